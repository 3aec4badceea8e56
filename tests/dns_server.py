"""A real DNS server on loopback for tests (dnslib), answering TXT records from a dict.

    with DNSServer({"example.com": ["v=spf1 mx -all"]}) as dns:
        resolver_address = dns.address          # "127.0.0.1:<port>"

Names not in the zone answer NXDOMAIN; UDP and TCP on the same port (long records)."""

from __future__ import annotations

import socket
from typing import Any

from dnslib import QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver
from dnslib.server import DNSServer as _Server


class _Quiet:
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


class _Zone(BaseResolver):
    def __init__(self, records: dict[str, list[str]]) -> None:
        self.records = {name.lower().rstrip("."): values for name, values in records.items()}

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        name = str(request.q.qname).lower().rstrip(".")
        if name not in self.records:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.TXT:
            for value in self.records[name]:
                chunks = [value[i:i + 255] for i in range(0, len(value), 255)] or [""]
                reply.add_answer(RR(name, QTYPE.TXT, rdata=TXT(chunks), ttl=60))
        return reply


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
        tcp.bind(("127.0.0.1", 0))
        port = int(tcp.getsockname()[1])
        udp.bind(("127.0.0.1", port))
        return port


class DNSServer:
    def __init__(self, records: dict[str, list[str]]) -> None:
        self.zone = _Zone(records)
        self.port = _free_port()
        self.servers = [_Server(self.zone, address="127.0.0.1", port=self.port, tcp=tcp,
                                logger=_Quiet()) for tcp in (False, True)]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> DNSServer:
        for server in self.servers:
            server.start_thread()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.servers:
            server.stop()
            server.server.server_close()
