"""A simulation worker's side of the frame exchange, independent of how frames travel.

:class:`FrameWorker` turns the driver's frames (:mod:`fedseal.simulation.frames`) into calls on
its :class:`~fedseal.simulation.host.SiloHost` and the silos' answers into frames. The process
pool (:mod:`fedseal.simulation.pool`) and the Ray actors
(:mod:`fedseal.simulation.ray_executor`) both wrap one; they differ only in how frames and
vectors move.

Operations (the header's ``"op"``) and their answers:

==========  ==========================================  =================================
op          header / blobs                              answer
==========  ==========================================  =================================
setup       deployment_id, silos, policy, seed          silos; blobs: public keys
directory   silos; blobs: every silo's public key        {}
begin       participants, train_digest (hex)            {} (inputs come beside the frame)
step        items: [silo, blob index]; blobs: messages  per group of silos: answers
rss         --                                          rss_mb: this process's peak RSS
end         --                                          {}
==========  ==========================================  =================================

A step's answer lists, per silo, ``[silo, seconds, error, [blob indices]]``; its blobs are the
silos' messages in the wire encoding, each :class:`~fedseal.protocol.messages.MaskedInput` with
an empty vector: the vector itself is handed to the caller, who puts it in shared memory or the
object store.
"""

from __future__ import annotations

import dataclasses
import resource
from collections.abc import Iterator, Mapping
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from fedseal.errors import ConfigError
from fedseal.protocol import messages as m
from fedseal.protocol.control import ToServer
from fedseal.protocol.wire import decode_to_silo, encode_to_server
from fedseal.simulation.frames import pack
from fedseal.simulation.host import SiloHost, policy_from_json

__all__ = ["FrameWorker", "peak_rss_mb"]

#: Vectors a step produced: ``(silo, masked vector)``, in the order of the answer frame.
Vectors = list[tuple[str, npt.NDArray[Any]]]


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class FrameWorker:
    """Answers the driver's frames for one slice of silos (see the module docstring)."""

    def __init__(self) -> None:
        self._host: SiloHost | None = None

    @property
    def host(self) -> SiloHost:
        """The silos of this worker; set by the ``setup`` frame."""
        if self._host is None:
            raise ConfigError("the worker was not set up")
        return self._host

    def release(self) -> None:
        """Drop the round's sessions, if any (they reference the inputs)."""
        if self._host is not None:
            self._host.end()

    def control(self, header: Mapping[str, Any], blobs: list[memoryview]) -> bytes:
        """Answer ``setup``, ``directory``, ``rss`` and ``end``."""
        op = header.get("op")
        if op == "setup":
            seed = header["seed"]
            self._host = SiloHost(
                str(header["deployment_id"]),
                [str(s) for s in header["silos"]],
                policy=policy_from_json(header["policy"]),
                seed=None if seed is None else int(seed),
            )
            keys = self._host.public_keys()
            return pack({"silos": list(keys)}, list(keys.values()))
        if op == "directory":
            self.host.set_directory(
                {str(s): bytes(b) for s, b in zip(header["silos"], blobs, strict=True)}
            )
            return pack({})
        if op == "rss":
            return pack({"rss_mb": peak_rss_mb()})
        if op == "end":
            self.host.end()
            return pack({})
        raise ConfigError(f"unknown worker operation {op!r}")

    def begin(self, header: Mapping[str, Any], inputs: Mapping[str, npt.NDArray[Any]]) -> bytes:
        """Answer ``begin``: open this worker's sessions of the round."""
        self.host.begin(
            [str(s) for s in header["participants"]], bytes.fromhex(header["train_digest"]), inputs
        )
        return pack({})

    def steps(
        self, header: Mapping[str, Any], blobs: list[memoryview], *, group: int
    ) -> Iterator[tuple[bytes, Vectors]]:
        """Answer ``step``: one answer frame per ``group`` silos, as soon as they are done.

        The messages are decoded once per blob, so a broadcast is decoded once per worker.
        """
        decoded: dict[int, m.Message] = {}
        answers: list[list[Any]] = []
        out: list[bytes] = []
        vectors: Vectors = []
        for silo, index in header["items"]:
            if index not in decoded:
                decoded[index] = _to_silo(decode_to_silo(bytes(blobs[index])))
            replies, seconds, error = self.host.step(str(silo), decoded[index])
            indices = []
            for reply in replies:
                if isinstance(reply, m.MaskedInput):
                    vectors.append((reply.sender, reply.vector))
                    reply = dataclasses.replace(reply, vector=np.zeros(0, reply.vector.dtype))
                indices.append(len(out))
                out.append(encode_to_server(cast("ToServer", reply)))
            answers.append([silo, seconds, error, indices])
            if len(answers) >= group:
                yield pack({"answers": answers}, out), vectors
                answers, out, vectors = [], [], []
        if answers:
            yield pack({"answers": answers}, out), vectors


def _to_silo(message: object) -> m.Message:
    """A decoded message, if it is one of the secure-aggregation round's."""
    if not isinstance(
        message,
        m.BeginRound
        | m.KeyDirectory
        | m.ShareDelivery
        | m.ConsistencyRequest
        | m.UnmaskRequest
        | m.AbortRound,
    ):
        raise ConfigError(f"a simulated silo cannot handle {type(message).__name__}")
    return message
