"""The job of bench/dispatch's RQ floor: takes the same arguments as the real send job and
does nothing, so the run measures what RQ itself costs per job on these workers."""


def noop(request_id: int, attempt: int) -> None:
    return None
