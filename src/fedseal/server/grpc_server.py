"""The coordinator's gRPC transport: mTLS, one bidirectional stream per silo, framed messages.

Thin by design (DESIGN §6): decode -> hand to :class:`~fedseal.server.driver.RoundDriver` ->
encode. Silos dial out to ``fedseal.v1.Coordinator/Connect`` and keep the stream open; the
server pushes work down it. The silo's identity is the Common Name of its client certificate,
checked by TLS against the deployment CA; a name in a message is never trusted. Messages larger
than ``chunk_bytes`` travel as several frames (``protocol/wire/framing.py``); a reassembled
message may not exceed ``max_message_bytes``. A malformed or oversized message ends that silo's
stream with INVALID_ARGUMENT / RESOURCE_EXHAUSTED (chosen by exception class, :func:`status_for`),
and the driver treats it as a dropout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import grpc.aio

from fedseal.errors import ConfigError, MessageTooLarge, ProtocolViolation
from fedseal.protocol import control as c
from fedseal.protocol.hello import Hello
from fedseal.protocol.wire.channel import SERVICE, TransportLimits, channel_options
from fedseal.protocol.wire.framing import Reassembler, encode_frame
from fedseal.protocol.wire.serde import decode_to_server, encode_to_silo
from fedseal.server.driver import RoundDriver

__all__ = ["HELLO_TIMEOUT_S", "STATUS_CODES", "GrpcCoordinator", "status_for"]

log = logging.getLogger("fedseal.server")

#: Seconds a new stream has to send its ``Hello`` (protocol/hello.py) before it is closed.
HELLO_TIMEOUT_S = 30.0
#: The status of a refusal the silo may retry (its app's model does not fit the server's now).
_RETRY_LATER = grpc.StatusCode.FAILED_PRECONDITION

#: Exception class -> the status that ends a silo's stream when reading its messages raised it.
#: Walked in order with ``isinstance``, so a subclass must come before its base class.
STATUS_CODES: tuple[tuple[type[BaseException], grpc.StatusCode], ...] = (
    (MessageTooLarge, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (ProtocolViolation, grpc.StatusCode.INVALID_ARGUMENT),
    (TimeoutError, grpc.StatusCode.DEADLINE_EXCEEDED),  # no Hello in time
)


def status_for(exc: BaseException) -> grpc.StatusCode:
    """The gRPC status that answers ``exc``, by its class (never by its message text).

    Parameters
    ----------
    exc : BaseException
        The error raised while reading a silo's stream.

    Returns
    -------
    grpc.StatusCode
        The code of the first :data:`STATUS_CODES` row whose class ``exc`` is an instance of,
        else ``INTERNAL``.
    """
    for cls, code in STATUS_CODES:
        if isinstance(exc, cls):
            return code
    # INTERNAL, not INVALID_ARGUMENT: an exception no row names was not diagnosed as the peer's
    # fault (every peer fault is a ProtocolViolation), so blaming the silo's input would mislead.
    return grpc.StatusCode.INTERNAL


class _SharedEncoder:
    """Encodes each message once, however many silos it goes to (the round's broadcast).

    The driver hands the same ``TrainRequest`` (or ``CheckpointRequest``) object to every link;
    the payload is encoded for the first and shared by the others, so the server holds one copy
    of the model per round rather than one per silo.
    """

    def __init__(self) -> None:
        self._last: tuple[object, bytes] | None = None

    def __call__(self, message: c.ToSilo) -> bytes:
        if self._last is not None and self._last[0] is message:
            return self._last[1]
        payload = encode_to_silo(message)
        self._last = (message, payload)
        return payload


class _StreamLink:
    """One silo's open stream: an outbox of encoded messages, cut into frames as written.

    Frames are made one at a time by the writer (:meth:`frames`), so a queued message costs
    its shared payload, not a copy per silo. The outbox is bounded in bytes
    (``2 * max_message_bytes``): a silo that stops reading its stream is cut off
    (``RESOURCE_EXHAUSTED``) and becomes a dropout, instead of making the server buffer every
    later message for it.
    """

    def __init__(
        self, limits: TransportLimits, encode: Callable[[c.ToSilo], bytes] = encode_to_silo
    ) -> None:
        self._limits = limits
        self._encode = encode
        self.outbox: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self.status: tuple[grpc.StatusCode, str] | None = None
        self._next_id = 0
        self.bytes_down = 0
        self.bytes_up = 0
        self.queued = 0  # payload bytes in the outbox, not yet written to the stream
        self.max_queued = 2 * limits.max_message_bytes

    def send(self, message: c.ToSilo) -> None:
        if self.status is not None:
            return  # closed: nothing more is queued for this stream
        payload = self._encode(message)
        if self.queued + len(payload) > self.max_queued:
            self.status = (
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"the silo is not reading its stream ({self.queued} bytes waiting)",
            )
            self.outbox.put_nowait(None)
            return
        self._next_id += 1
        self.queued += len(payload)
        self.outbox.put_nowait((self._next_id, payload))

    def frames(self, message_id: int, payload: bytes) -> Iterator[bytes]:
        """The frames of one queued message, made one by one (``split_frames`` lazily)."""
        size = self._limits.chunk_bytes
        total = max(1, -(-len(payload) // size))
        for i in range(total):
            frame = encode_frame(message_id, i, total, payload[i * size : (i + 1) * size])
            self.bytes_down += len(frame)
            yield frame

    def close(self, reason: str) -> None:
        if self.status is None:
            self.status = (grpc.StatusCode.ABORTED, reason)
        self.outbox.put_nowait(None)


class GrpcCoordinator:
    """Serves ``Connect`` streams for ``driver`` on ``listen`` with mutual TLS.

    Parameters
    ----------
    driver : RoundDriver
    listen : str
        ``host:port``; port 0 picks a free port (see :attr:`port`).
    tls : (ca_pem, cert_pem, key_pem)
        The deployment CA and the server's certificate and key.
    admitted : iterable of str
        Silo names allowed to connect (certificate CN); revoked silos must not be listed.
    limits : TransportLimits
    """

    def __init__(
        self,
        driver: RoundDriver,
        *,
        listen: str,
        tls: tuple[bytes, bytes, bytes],
        admitted: frozenset[str],
        limits: TransportLimits,
    ) -> None:
        self.driver = driver
        self._listen = listen
        self._tls = tls
        self._admitted = admitted
        self._limits = limits
        self._server: grpc.aio.Server | None = None
        self.port = 0
        self.bytes_up: dict[str, int] = {}
        self._encode = _SharedEncoder()
        self.bytes_down: dict[str, int] = {}

    async def start(self) -> int:
        """Bind and start serving; returns the bound port."""
        ca, cert, key = self._tls
        credentials = grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=ca, require_client_auth=True
        )
        server = grpc.aio.server(
            options=[*channel_options(self._limits), ("grpc.so_reuseport", 0)],
            maximum_concurrent_rpcs=None,
        )
        handler = grpc.stream_stream_rpc_method_handler(self._connect)
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, {"Connect": handler}),)
        )
        try:
            self.port = server.add_secure_port(self._listen, credentials)
        except RuntimeError as exc:
            raise ConfigError(f"cannot listen on {self._listen}: {exc} (port in use?)") from None
        if self.port == 0:
            raise ConfigError(f"cannot listen on {self._listen}: address in use or unavailable")
        await server.start()
        self._server = server
        return self.port

    async def stop(self, grace: float = 2.0) -> None:
        """Close every stream and stop serving."""
        if self._server is not None:
            for link in list(self.driver.links.values()):
                link.close("server shutting down")
            await self._server.stop(grace)
            self._server = None

    def _identify(self, context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
        names = context.auth_context().get("x509_common_name") or []
        if len(names) != 1:
            return None
        name = names[0].decode("utf-8", "replace")
        return name if name in self._admitted else None

    async def _connect(self, requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        silo = self._identify(context)
        if silo is None:
            log.warning("refused a connection from %s: certificate not admitted", context.peer())
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "silo not admitted")
            return
        if silo in self.driver.links:  # checked again after the Hello (no await in between)
            await self._refuse_duplicate(silo, context)
            return
        reassembler = Reassembler(max_message_bytes=self._limits.max_message_bytes)
        try:
            hello = await asyncio.wait_for(self._hello(requests, reassembler), HELLO_TIMEOUT_S)
        except (ProtocolViolation, TimeoutError) as exc:
            reason = f"expected Hello first: {str(exc) or 'none within the time limit'}"
            log.warning("refused silo %s from %s: %s", silo, context.peer(), reason)
            await context.abort(status_for(exc), reason[:500])
            return
        if silo in self.driver.links:
            await self._refuse_duplicate(silo, context)
            return
        refusal = self.driver.introduce(silo, hello)
        if refusal is not None:
            code = grpc.StatusCode.PERMISSION_DENIED if refusal.final else _RETRY_LATER
            await context.abort(code, refusal.reason[:1000])
            return
        link = _StreamLink(self._limits, self._encode)
        log.info("silo %s connected from %s", silo, context.peer())
        self.driver.connected(silo, link)
        reader = asyncio.create_task(self._read(silo, requests, link, reassembler))
        try:
            while True:
                item = await link.outbox.get()
                if item is None:
                    break
                message_id, payload = item
                for frame in link.frames(message_id, payload):
                    await context.write(frame)
                link.queued -= len(payload)
        except (asyncio.CancelledError, grpc.aio.AioRpcError):
            pass
        finally:
            reader.cancel()
            self.bytes_up[silo] = self.bytes_up.get(silo, 0) + link.bytes_up
            self.bytes_down[silo] = self.bytes_down.get(silo, 0) + link.bytes_down
            self.driver.disconnected(silo, link)
            log.info("silo %s disconnected", silo)
        if link.status is not None and link.status[0] is not grpc.StatusCode.ABORTED:
            await context.abort(*link.status)

    async def _hello(self, requests: Any, reassembler: Reassembler) -> Hello:
        async for frame in requests:
            payload = reassembler.add(frame)
            if payload is not None:
                message = decode_to_server(payload)
                if not isinstance(message, Hello):
                    raise ProtocolViolation(f"got {type(message).__name__}")
                return message
        raise ProtocolViolation("the stream ended")

    async def _refuse_duplicate(
        self, silo: str, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        # Two live streams of one identity would replace each other forever (flapping):
        # refuse the newcomer, naming the cause on both sides. A silo whose old stream is
        # really dead gets in once keepalive (<= 30 s) or the disconnect has closed it.
        log.error(
            "refused a second connection of silo %s from %s while its stream from another "
            "connection is open: is a second process running with %s's identity?",
            silo, context.peer(), silo,
        )  # fmt: skip
        await context.abort(
            grpc.StatusCode.ALREADY_EXISTS,
            f"silo {silo} is already connected to this server: is another process running "
            "with this silo's identity (the same silo.toml and keys)?",
        )

    async def _read(
        self, silo: str, requests: Any, link: _StreamLink, reassembler: Reassembler
    ) -> None:
        try:
            async for frame in requests:
                link.bytes_up += len(frame)
                payload = reassembler.add(frame)
                if payload is None:
                    continue
                message = decode_to_server(payload)
                if isinstance(message, Hello):
                    raise ProtocolViolation("a second Hello on one stream")
                self.driver.received(silo, message)
        except ProtocolViolation as exc:
            code = status_for(exc)
            log.warning("silo %s sent a malformed message: %s", silo, exc)
            link.status = (code, f"malformed message: {exc}"[:500])
            self.driver.rejected(silo, str(exc)[:200])
        except (asyncio.CancelledError, grpc.aio.AioRpcError):
            return
        link.outbox.put_nowait(None)
