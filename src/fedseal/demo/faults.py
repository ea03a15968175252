"""The demo's fault injection: a silo that kills itself mid-round, to show dropout recovery.

``python -m fedseal.demo.faults --fault FAULT --config silo.toml --app MODULE:FUNCTION`` runs a
silo exactly as ``fedseal client`` does, with :class:`FaultInjectingAgent` in place of the
library's :class:`~fedseal.client.agent.SiloAgent`. ``FAULT`` is one of

``kill-after-share:ROUND``
    SIGKILL as the silo's shares are delivered in masking round ROUND: it advertised keys and
    dealt shares but sends no masked input, so the others must recover its masks.
``kill-before-decrypt:ROUND``
    SIGKILL as the silo is asked to decrypt in Paillier round ROUND: its encrypted input is in
    the sum, and the other share holders must decrypt without it.

Only the demo uses this; the library carries no fault-injection code.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
from functools import partial
from typing import Any

from fedseal.client.agent import SiloAgent
from fedseal.errors import ConfigError
from fedseal.protocol import control as c
from fedseal.protocol import messages as m

__all__ = ["FAULTS", "FaultInjectingAgent", "main"]

log = logging.getLogger("fedseal.client")

#: Fault name -> the message type whose arrival (in the fault's round) kills the silo.
FAULTS: dict[str, type] = {
    "kill-after-share": m.ShareDelivery,
    "kill-before-decrypt": c.DecryptRequest,
}


def parse_fault(spec: str) -> tuple[type, int]:
    """``"NAME:ROUND"`` -> (message type, round id); ConfigError naming what is wrong."""
    name, _, round_text = spec.partition(":")
    if name not in FAULTS or not round_text.isdigit():
        raise ConfigError(f"fault must be one of {', '.join(FAULTS)} followed by :ROUND")
    return FAULTS[name], int(round_text)


class FaultInjectingAgent(SiloAgent):
    """A :class:`SiloAgent` that SIGKILLs its own process on the fault's message and round."""

    def __init__(self, *, fault: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._trigger, self._round = parse_fault(fault)

    def handle(self, message: c.ToSilo) -> tuple[list[c.ToServer], bool]:
        """Die on the trigger; otherwise behave exactly like the library's agent."""
        if isinstance(message, self._trigger) and getattr(message, "round_id", -1) == self._round:
            log.warning("fault injection: killing this silo on %s", type(message).__name__)
            os.kill(os.getpid(), signal.SIGKILL)
        return super().handle(message)


def main(argv: list[str] | None = None) -> int:
    """Run one silo with a fault (see the module docstring); returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m fedseal.demo.faults")
    parser.add_argument(
        "--fault", required=True, help="kill-after-share:R or kill-before-decrypt:R"
    )
    parser.add_argument("--config", required=True)
    parser.add_argument("--app", required=True)
    args = parser.parse_args(argv)
    parse_fault(args.fault)  # refuse a bad spec before the silo starts
    from fedseal.client.run import run_silo

    agent = partial(FaultInjectingAgent, fault=args.fault)
    return run_silo(args.config, args.app, agent_type=agent)


if __name__ == "__main__":  # pragma: no cover - run as a process by the demo
    raise SystemExit(main())
