"""What the benchmarks read of a running process (Linux /proc)."""

from pathlib import Path


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of ``pid`` in MB; NaN once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")
