"""The silo's gRPC transport: dial out over mTLS, keep one stream open, reconnect with backoff.

Silos only make outbound connections (firewall-friendly, DESIGN §6). The stream carries framed
messages (``protocol/wire/framing.py``) both ways; each reassembled server message is handed to
:class:`~fedseal.client.agent.SiloAgent` and its replies are framed back. When the stream breaks
(server restart, network), the round in progress is abandoned and the silo reconnects with
capped exponential backoff and jitter. A certificate the server does not admit ends the agent
with a clear error instead of retrying forever.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator

import grpc

from fedseal.client.agent import SiloAgent
from fedseal.errors import ConfigError, ProtocolViolation
from fedseal.protocol import control as c
from fedseal.protocol.wire.channel import METHOD, TransportLimits, channel_options
from fedseal.protocol.wire.framing import Reassembler, split_frames
from fedseal.protocol.wire.serde import decode_to_silo, encode_to_server

__all__ = ["GrpcSiloClient"]

log = logging.getLogger("fedseal.client")

_FATAL = (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED)
#: Refusals another server start may lift (e.g. the server's model does not fit this app):
#: logged as errors and retried with the backoff.
_REFUSED = (grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.FAILED_PRECONDITION)


class GrpcSiloClient:
    """Connects ``agent`` to the coordinator until the deployment finishes.

    Parameters
    ----------
    agent : SiloAgent
    address : str
        ``host:port`` of the coordinator.
    server_name : str
        The name the server's certificate must carry.
    tls : (ca_pem, cert_pem, key_pem)
        Deployment CA, this silo's certificate and key.
    limits : TransportLimits
    reconnect_max_s : float
        Cap of the reconnect backoff.
    give_up_after_s : float
        Stop (exit status 1) after this long without a working connection.
    """

    def __init__(
        self,
        agent: SiloAgent,
        *,
        address: str,
        server_name: str,
        tls: tuple[bytes, bytes, bytes],
        limits: TransportLimits,
        reconnect_max_s: float = 30.0,
        give_up_after_s: float = 600.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.agent = agent
        self._address = address
        ca, cert, key = tls
        self._credentials = grpc.ssl_channel_credentials(ca, key, cert)
        self._options = [
            *channel_options(limits),
            ("grpc.ssl_target_name_override", server_name),
        ]
        self._limits = limits
        self._reconnect_max_s = reconnect_max_s
        self._give_up_after_s = give_up_after_s
        self._sleep = sleep
        self._message_id = 0

    def run(self) -> int:
        """Serve the deployment; returns 0 when the server says it is finished."""
        backoff, last_ok = 0.5, time.monotonic()
        while True:
            try:
                if self._stream():
                    return 0
                last_ok = time.monotonic()
                backoff = 0.5
                log.warning("server closed the stream; reconnecting")
            except grpc.RpcError as exc:
                code = exc.code() if isinstance(exc, grpc.Call) else None
                details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
                if code in _FATAL:
                    raise ConfigError(f"the server refused this silo: {details}") from None
                if code in _REFUSED:
                    log.error("the server refused this connection: %s", details)
                else:
                    log.warning("connection to %s failed (%s): %s", self._address, code, details)
            except ProtocolViolation as exc:
                log.error("server sent a malformed message (%s); reconnecting", exc)
            self.agent.connection_lost()
            if time.monotonic() - last_ok > self._give_up_after_s:
                log.error("no working connection for %.0f s; giving up", self._give_up_after_s)
                return 1
            self._sleep(backoff * (0.5 + random.random()))  # noqa: S311 - jitter, not a secret
            backoff = min(backoff * 2, self._reconnect_max_s)

    def _frames(self, outbox: queue.Queue[bytes | None], stop: threading.Event) -> Iterator[bytes]:
        while not stop.is_set():
            try:
                frame = outbox.get(timeout=0.5)
            except queue.Empty:
                continue
            if frame is None:
                return
            yield frame

    def _send(self, outbox: queue.Queue[bytes | None], message: c.ToServer) -> None:
        self._message_id += 1
        for part in split_frames(
            encode_to_server(message),
            message_id=self._message_id,
            chunk_size=self._limits.chunk_bytes,
        ):
            outbox.put(part)

    def _stream(self) -> bool:
        outbox: queue.Queue[bytes | None] = queue.Queue()
        stop = threading.Event()
        self._send(outbox, self.agent.hello())
        with grpc.secure_channel(self._address, self._credentials, self._options) as channel:
            call = channel.stream_stream(METHOD)(self._frames(outbox, stop))
            reassembler = Reassembler(max_message_bytes=self._limits.max_message_bytes)
            try:
                for frame in call:
                    payload = reassembler.add(frame)
                    if payload is None:
                        continue
                    replies, finished = self.agent.handle(decode_to_silo(payload))
                    for reply in replies:
                        self._send(outbox, reply)
                    if finished:
                        outbox.put(None)
                        return True
            finally:
                stop.set()
                call.cancel()
        return False
