"""Fixed-point encoding of a silo's contribution into Z_{2^k}, and back.

A silo's contribution is one integer vector ``[w*q(x), w, v, v*q(m)]``: its clipped, quantized
update ``x`` scaled by its integer weight ``w`` (declared, capped at ``max_weight``), the weight
itself, and -- when the spec has metrics -- the metrics' weight ``v`` (``w`` if the silo sends
its metrics ``m``, 0 if it does not: a silo under DP sends no un-noised statistic) and the
metrics scaled by it, all masked together (DESIGN §3): the server learns only the sums, and
"not collected" when no silo sent metrics.

Each coordinate is clipped to ``[-clip, clip]`` and mapped to ``{0, ..., 2^bits - 1}`` with
*stochastic rounding* (round up with probability equal to the fractional part), which is unbiased:
``E[q(x)] = x`` in fixed point (Gupta et al., ICML 2015; also the encoding of Bonawitz et al. 2017
§2 uses fixed-point integers). The rounding error of one coordinate is below one step
``2*clip / (2^bits - 1)``, so the weighted mean decoded from a sum is within one step of the
weighted mean of the clipped inputs, whatever the number of silos.

The sum of ``n`` contributions must not wrap around the modulus 2^k. ``QuantizationSpec`` checks
``max_silos * max_weight * (2^bits - 1) < 2^k`` when it is built, before any round starts,
and refuses with an error naming the parameters otherwise. :func:`fits_modulus` is that bound,
the one place it is computed: the server's config and ``fedseal provision`` (which picks a
64-bit modulus when 32 bits are too few) call it too.

Decoding refuses a sum that honest contributions cannot produce (a coordinate beyond the clip
range, more weight than the contributors can carry) with
:class:`~fedseal.errors.AggregateIntegrityError`: one silo sending a thousand times the largest
value would otherwise move the mean as far as it likes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fedseal.errors import AggregateIntegrityError, ConfigError, ProtocolViolation
from fedseal.secagg.hazmat.randomness import RandomSource

__all__ = ["DecodedSum", "QuantizationSpec", "fits_modulus", "largest_sum"]

#: Relative float tolerance of the range check on decoded means (rounding only).
_TOLERANCE = 1e-9


def largest_sum(*, max_silos: int, max_weight: int, bits: int) -> int:
    """The largest sum honest contributions reach: ``max_silos * max_weight * (2^bits - 1)``.

    Parameters
    ----------
    max_silos : int
        Contributions summed.
    max_weight : int
        Largest weight of one contribution.
    bits : int
        Quantization bits: a coordinate is at most ``2^bits - 1``.

    Returns
    -------
    int
        The largest coordinate of the sum (an exact Python integer).
    """
    return max_silos * max_weight * ((1 << bits) - 1)


def fits_modulus(*, max_silos: int, max_weight: int, bits: int, modulus_bits: int) -> bool:
    """Whether sums cannot wrap around ``2^modulus_bits``: ``largest_sum(...) < 2^modulus_bits``.

    Parameters
    ----------
    max_silos, max_weight, bits : int
        As for :func:`largest_sum`.
    modulus_bits : int
        The modulus is ``2^modulus_bits``.

    Returns
    -------
    bool
        True if every sum of at most ``max_silos`` honest contributions is exact.
    """
    largest = largest_sum(max_silos=max_silos, max_weight=max_weight, bits=bits)
    return largest < 1 << modulus_bits


@dataclass(frozen=True)
class DecodedSum:
    """What the server learns from one round: weighted means and the total weight."""

    mean: npt.NDArray[np.float64]
    total_weight: int
    metrics: npt.NDArray[np.float64] | None  # None: no contributor sent metrics


@dataclass(frozen=True, kw_only=True)
class QuantizationSpec:
    """How floats become integers in Z_{2^k}, and the bound that keeps sums from wrapping.

    Parameters
    ----------
    clip : float
        Each update coordinate is clipped to ``[-clip, clip]``. Must be > 0.
    bits : int
        Quantization levels per coordinate are ``2^bits``; 1 <= bits <= 32.
    max_weight : int
        Largest integer weight a silo may send (its example count is capped to this).
    max_silos : int
        Largest number of silos whose contributions are summed.
    modulus_bits : int
        32 (numpy ``uint32``) or 64 (``uint64``).
    metric_clip : float
        Metrics are clipped to ``[-metric_clip, metric_clip]`` and quantized like the update.
    num_metrics : int
        Number of metric values each silo sends.

    Raises
    ------
    ConfigError
        If a parameter is out of range, or if ``max_silos * max_weight * (2^bits - 1)`` does not
        fit below ``2^modulus_bits`` (the sum would wrap around silently).
    """

    clip: float
    bits: int = 16
    max_weight: int = 1000
    max_silos: int = 100
    modulus_bits: int = 32
    metric_clip: float = 100.0
    num_metrics: int = 0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.clip) and self.clip > 0):
            raise ConfigError(f"clip must be a finite number > 0, got {self.clip}")
        if not (np.isfinite(self.metric_clip) and self.metric_clip > 0):
            raise ConfigError(f"metric_clip must be a finite number > 0, got {self.metric_clip}")
        if self.modulus_bits not in (32, 64):
            raise ConfigError(f"modulus_bits must be 32 or 64, got {self.modulus_bits}")
        if not 1 <= self.bits <= 32:
            raise ConfigError(f"bits must be in 1..32, got {self.bits}")
        if self.max_weight < 1:
            raise ConfigError(f"max_weight must be >= 1, got {self.max_weight}")
        if self.max_silos < 1:
            raise ConfigError(f"max_silos must be >= 1, got {self.max_silos}")
        if self.num_metrics < 0:
            raise ConfigError(f"num_metrics must be >= 0, got {self.num_metrics}")
        bound = {"max_silos": self.max_silos, "max_weight": self.max_weight, "bits": self.bits}
        if not fits_modulus(**bound, modulus_bits=self.modulus_bits):
            raise ConfigError(
                "the sum could wrap around the modulus: max_silos * max_weight * (2^bits - 1) = "
                f"{self.max_silos} * {self.max_weight} * (2^{self.bits} - 1) = "
                f"{largest_sum(**bound)} "
                f">= 2^{self.modulus_bits}; lower bits, max_weight or max_silos, "
                "or use modulus_bits=64"
            )

    @property
    def levels(self) -> int:
        """Largest quantized value, ``2^bits - 1``."""
        return (1 << self.bits) - 1

    @property
    def dtype(self) -> type[np.unsignedinteger[Any]]:
        """The numpy dtype of encoded vectors."""
        return np.uint32 if self.modulus_bits == 32 else np.uint64

    @property
    def step(self) -> float:
        """Width of one quantization step of the update, ``2*clip / (2^bits - 1)``."""
        return 2.0 * self.clip / self.levels

    def encoded_length(self, dim: int) -> int:
        """Length of the encoded vector for an update of ``dim`` coordinates."""
        return dim + 1 + (1 + self.num_metrics if self.num_metrics else 0)

    def mean_error_bound(self) -> float:
        """Largest possible |decoded weighted mean - weighted mean of clipped inputs|."""
        return self.step

    def _quantize(
        self, values: npt.NDArray[Any], clip: float, rng: RandomSource
    ) -> npt.NDArray[np.uint64]:
        scaled = (np.clip(values.astype(np.float64), -clip, clip) + clip) * (self.levels / clip / 2)
        floor = np.floor(scaled)
        coins = rng.uint32(scaled.size).astype(np.float64) * (1.0 / 2**32)
        q = floor + (coins < (scaled - floor))
        result: npt.NDArray[np.uint64] = np.minimum(q, self.levels).astype(np.uint64)
        return result

    def encode(
        self,
        update: npt.ArrayLike,
        *,
        weight: int,
        metrics: npt.ArrayLike | None = None,
        rng: RandomSource,
    ) -> npt.NDArray[Any]:
        """Encode one silo's contribution ``[w*q(update), w, v, v*q(metrics)]``.

        Parameters
        ----------
        update : array_like of float
            The model update (flattened). NaN or infinite values are refused.
        weight : int
            The silo's weight, ``1 <= weight <= max_weight``.
        metrics : array_like of float, optional
            Exactly ``num_metrics`` values, or None to send none (``v = 0``; what a silo under
            DP does: its metrics would be un-noised statistics of its data).
        rng : RandomSource
            Source of the stochastic-rounding coins.
        """
        x = np.asarray(update, dtype=np.float64).ravel()
        sent = metrics is not None and self.num_metrics > 0
        m = np.asarray(metrics if sent else [0.0] * self.num_metrics, dtype=np.float64).ravel()
        if not np.all(np.isfinite(x)):
            raise ConfigError("update contains NaN or infinite values")
        if metrics is not None and np.asarray(metrics).size != self.num_metrics:
            raise ConfigError(f"metrics must be {self.num_metrics} finite values")
        if not np.all(np.isfinite(m)):
            raise ConfigError(f"metrics must be {self.num_metrics} finite values")
        if not isinstance(weight, int | np.integer) or not 1 <= weight <= self.max_weight:
            raise ConfigError(f"weight must be an integer in 1..{self.max_weight}, got {weight!r}")
        out = np.empty(self.encoded_length(x.size), dtype=self.dtype)
        w = np.uint64(weight)
        out[: x.size] = self._quantize(x, self.clip, rng) * w
        out[x.size] = w
        if self.num_metrics:
            v = w if sent else np.uint64(0)
            out[x.size + 1] = v
            out[x.size + 2 :] = self._quantize(m, self.metric_clip, rng) * v
        return out

    def decode_sum(
        self, total: npt.NDArray[Any], *, dim: int, contributors: int | None = None
    ) -> DecodedSum:
        """Decode the sum of encoded contributions into weighted means, checking it is possible.

        Parameters
        ----------
        total : ndarray
            The unmasked (or decrypted) sum, ``encoded_length(dim)`` values of :attr:`dtype`.
        dim : int
            Number of update coordinates.
        contributors : int, optional
            How many contributions were summed; bounds the total weight by
            ``contributors * max_weight``.

        Raises
        ------
        ProtocolViolation
            If the vector has the wrong length or dtype, or the total weight is zero.
        AggregateIntegrityError
            If no honest contributions could sum to ``total``: the total weight exceeds
            ``contributors * max_weight``, or a decoded mean coordinate (metric) lies outside
            ``[-clip, clip]`` (``[-metric_clip, metric_clip]``) beyond a ``1e-9`` relative float
            tolerance. Honest sums never fail this: each encoded coordinate is in
            ``[0, levels * w]``.

        Warnings
        --------
        The check catches a contribution pushed past the encoding range (a silo sending many
        times the largest value to steer the model); it cannot catch one that stays in range,
        nor one large enough to wrap around the modulus. Clipping bounds a silo's influence
        only as far as this check is made.
        """
        if total.dtype != self.dtype or total.shape != (self.encoded_length(dim),):
            raise ProtocolViolation(
                f"aggregate must be {self.encoded_length(dim)} values of {np.dtype(self.dtype)}, "
                f"got {total.shape} of {total.dtype}"
            )
        total_weight = int(total[dim])
        if total_weight == 0:
            raise ProtocolViolation("aggregate has total weight 0")
        if contributors is not None and total_weight > contributors * self.max_weight:
            raise AggregateIntegrityError(
                f"aggregate total weight {total_weight} exceeds {contributors} contributors * "
                f"max_weight {self.max_weight}"
            )

        metric_weight = int(total[dim + 1]) if self.num_metrics else 0
        if metric_weight > total_weight:
            raise AggregateIntegrityError(
                f"aggregate metric weight {metric_weight} exceeds its total weight {total_weight}"
            )

        def mean(
            q: npt.NDArray[Any], clip: float, what: str, weight: int
        ) -> npt.NDArray[np.float64]:
            values = q.astype(np.float64) * (2.0 * clip / self.levels / weight) - clip
            # Honest coordinates lie in [0, levels * w], so the mean lies in [-clip, clip].
            outside = np.abs(values) > clip * (1.0 + _TOLERANCE)
            if np.any(outside):
                index = int(np.argmax(outside))
                raise AggregateIntegrityError(
                    f"aggregate {what} {index} decodes to {values[index]:.6g}, outside "
                    f"[-{clip:g}, {clip:g}]: a contribution exceeded the encoding range"
                )
            return values

        metrics = (
            mean(total[dim + 2 :], self.metric_clip, "metric", metric_weight)
            if metric_weight
            else None
        )
        return DecodedSum(
            mean=mean(total[:dim], self.clip, "coordinate", total_weight),
            total_weight=total_weight,
            metrics=metrics,
        )
