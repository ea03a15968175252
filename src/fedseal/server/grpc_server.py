"""The coordinator's gRPC transport: mTLS, one bidirectional stream per silo, framed messages.

Thin by design (DESIGN §6): decode -> hand to :class:`~fedseal.server.driver.RoundDriver` ->
encode. Silos dial out to ``fedseal.v1.Coordinator/Connect`` and keep the stream open; the
server pushes work down it. The silo's identity is the Common Name of its client certificate,
checked by TLS against the deployment CA; a name in a message is never trusted. Messages travel
as frames of at most ``chunk_bytes``, and never more than ``MAX_FRAME_DATA`` (128 KiB), bytes
(``protocol/wire/framing.py``).

What a silo may send is bounded three ways (:mod:`fedseal.server.expectations`,
:mod:`fedseal.server.connect_limit`): each message must answer a request the server sent it on
this stream (one answer per request, so floods and replays end at once); each kind of message
has a largest size derived from the deployment, checked on its first frame; and each identity
may open only ``connect_burst`` streams at once, refilled one per ``connect_refill_s``. A
malformed, unexpected or oversized message ends that silo's stream with INVALID_ARGUMENT /
RESOURCE_EXHAUSTED (chosen by exception class, :mod:`fedseal.server.status_codes`), and the
driver treats it as a dropout. The server pings every connection each ``heartbeat_s`` (gRPC
keepalive), so a stopped or unreachable silo is a dropout within about twice that.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio

from fedseal.errors import ConfigError, ProtocolViolation
from fedseal.protocol.hello import Hello
from fedseal.protocol.wire.channel import SERVICE, TransportLimits, server_channel_options
from fedseal.protocol.wire.framing import Reassembler, silo_envelope_kind
from fedseal.protocol.wire.serde import decode_to_server
from fedseal.server.backpressure import ByteBudget
from fedseal.server.connect_limit import ConnectLimiter
from fedseal.server.driver import RoundDriver
from fedseal.server.expectations import Expectations, MessageLimits
from fedseal.server.status_codes import STATUS_CODES, status_for
from fedseal.server.stream_link import SharedEncoder as _SharedEncoder
from fedseal.server.stream_link import StreamLink as _StreamLink
from fedseal.server.stream_link import next_frame as _next_frame

if TYPE_CHECKING:  # gmpy2 and phe are an optional extra, needed only in Paillier mode
    from fedseal.server.paillier_round import PaillierAggregator

__all__ = ["HELLO_TIMEOUT_S", "STATUS_CODES", "GrpcCoordinator", "status_for"]

log = logging.getLogger("fedseal.server")

#: Seconds a new stream has to send its ``Hello`` (protocol/hello.py) before it is closed.
HELLO_TIMEOUT_S = 30.0
#: Default bytes of large messages rebuilt at once over all streams (server/backpressure.py).
REASSEMBLY_BUDGET_BYTES = 32 << 20
#: Messages above this size take from that budget; control messages never wait for it.
_LARGE_BYTES = 64 << 10
#: Seconds a stream holding part of that budget may go without sending a frame.
STALL_S = 30.0
#: The status of a refusal the silo may retry (its app's model does not fit the server's now).
_RETRY_LATER = grpc.StatusCode.FAILED_PRECONDITION


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
    connect_burst, connect_refill_s : int, float
        Streams one identity may open at once, and seconds to earn one more.
    paillier : PaillierAggregator, optional
        The deployment's Paillier setup: sizes the Paillier messages' limits.
    reassembly_budget_bytes : int
        Bytes of large messages rebuilt at once over all streams (server memory against how
        many silos upload at the same time).
    """

    def __init__(
        self,
        driver: RoundDriver,
        *,
        listen: str,
        tls: tuple[bytes, bytes, bytes],
        admitted: frozenset[str],
        limits: TransportLimits,
        connect_burst: int = 5,
        connect_refill_s: float = 10.0,
        paillier: PaillierAggregator | None = None,
        reassembly_budget_bytes: int = REASSEMBLY_BUDGET_BYTES,
    ) -> None:
        self.driver = driver
        self._listen = listen
        self._tls = tls
        self._admitted = admitted
        self._limits = limits
        self.message_limits = MessageLimits.for_deployment(
            driver.config, dim=driver.strategy.dim, silos=len(admitted),
            ceiling=limits.max_message_bytes, paillier=paillier,
        )  # fmt: skip
        self._connects = ConnectLimiter(burst=connect_burst, refill_s=connect_refill_s)
        self._budget = ByteBudget(reassembly_budget_bytes)
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
            options=[*server_channel_options(self._limits), ("grpc.so_reuseport", 0)],
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

    @staticmethod
    def _common_name(context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
        names = context.auth_context().get("x509_common_name") or []
        return names[0].decode("utf-8", "replace")[:100] if len(names) == 1 else None

    async def _connect(self, requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        del requests  # frames are read with context.read() (see _next_frame)
        name = self._common_name(context)
        if not self._connects.admit(name or "(no name)"):
            # Before any Hello check, and audited at most once a minute per identity (with the
            # count): a connect loop costs the server next to nothing.
            report = self._connects.report(name or "(no name)")
            if report is not None:
                log.warning("%s (last from %s)", report, context.peer())
                self.driver.refused(name or "(no name)", report)
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many connections")
            return
        silo = name if name in self._admitted else None
        if silo is None:
            log.warning("refused a connection from %s: certificate not admitted", context.peer())
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "silo not admitted")
            return
        if silo in self.driver.links:  # checked again after the Hello (no await in between)
            await self._refuse_duplicate(silo, context)
            return
        expect = Expectations(self.message_limits)
        reassembler = Reassembler(
            max_message_bytes=self._limits.max_message_bytes,
            limit_for=lambda head: expect.limit_for(silo_envelope_kind(head)),
        )
        try:
            hello = await asyncio.wait_for(
                self._hello(context, reassembler, expect), HELLO_TIMEOUT_S
            )
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
        link = _StreamLink(self._limits, self._encode, expect)
        log.info("silo %s connected from %s", silo, context.peer())
        self.driver.connected(silo, link)
        reader = asyncio.create_task(self._read(silo, context, link, reassembler))
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

    async def _hello(
        self,
        context: grpc.aio.ServicerContext[Any, Any],
        reassembler: Reassembler,
        expect: Expectations,
    ) -> Hello:
        while (frame := await _next_frame(context)) is not None:
            payload = reassembler.add(frame)
            del frame
            if payload is not None:
                message = decode_to_server(payload)
                if not isinstance(message, Hello):
                    raise ProtocolViolation(f"got {type(message).__name__}")
                expect.spend(message, len(payload))
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
        self,
        silo: str,
        context: grpc.aio.ServicerContext[Any, Any],
        link: _StreamLink,
        reassembler: Reassembler,
    ) -> None:
        held = 0  # bytes of the reassembly budget this stream holds for its current message
        try:
            while True:
                try:  # a stream holding the shared budget must keep sending
                    async with asyncio.timeout(STALL_S if held else None):
                        frame = await _next_frame(context)
                    if frame is None:
                        break
                except TimeoutError:
                    raise ProtocolViolation(
                        f"a large message stalled: no frame for {STALL_S:g} s"
                    ) from None
                link.bytes_up += len(frame)
                payload = reassembler.add(frame)
                del frame  # the reassembler keeps the chunk: no second copy while we wait
                if payload is None:
                    if not held and reassembler.declared > _LARGE_BYTES:
                        held = await self._budget.take(reassembler.declared)
                    continue
                if not held and len(payload) > _LARGE_BYTES:  # one frame: bound its decoding
                    held = await self._budget.take(len(payload))
                message = decode_to_server(payload)
                del payload
                if link.expect is not None:  # an unexpected kind was refused on its first frame
                    link.expect.spend(message, reassembler.last_size)
                # The decoded message keeps its share of the budget until the driver takes it
                # from its queue: decoded messages waiting there are bounded by the budget too.
                release = self._budget.releaser(held) if held else None
                held = 0
                self.driver.received(silo, message, release)
                del message
        except ProtocolViolation as exc:
            code = status_for(exc)
            log.warning("silo %s broke the protocol; closing its stream: %s", silo, exc)
            link.status = (code, f"malformed message: {exc}"[:500])
            self.driver.rejected(silo, str(exc)[:200])
        except (asyncio.CancelledError, grpc.aio.AioRpcError):
            return
        finally:
            if held:
                self._budget.give(held)
        link.outbox.put_nowait(None)
