"""A throw-away single-node SLURM cluster on this machine, for the SLURM tests.

Debian's ``slurm-wlm`` and ``munge`` packages provide the daemons. Everything the
cluster writes (munge key and socket, slurm.conf, state, spool, logs) lives in one
private folder, the daemons listen on free ports, and clients find the cluster
through the ``SLURM_CONF`` environment variable, so nothing under /etc is changed and
a SLURM or munge already running on the machine is left alone.

There is no accounting database: ``sacct`` cannot answer, so the Snakemake SLURM
executor must read job states from ``squeue``, which remembers finished jobs for
``MinJobAge`` seconds (set to an hour here).

Inside a job, the executor's job-step plugin calls ``srun`` with every ``SLURM_*``
variable except the job's identity removed, ``SLURM_CONF`` included; a real cluster's
nodes find /etc/slurm/slurm.conf (or run configless), this one's would not. So the
cluster's ``bin`` folder, first on PATH in :attr:`SlurmCluster.env`, holds an
``srun`` that restores ``SLURM_CONF`` when it is missing and runs the real one.

The node also advertises two *fake* GPUs (``gpu`` GRES backed by /dev/null and
/dev/zero), so a job that asks for a GPU is scheduled, gets CUDA_VISIBLE_DEVICES and
runs; torch inside it still sees no CUDA.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

log = logging.getLogger(__name__)

PACKAGES = ("slurm-wlm", "munge")
DAEMONS = ("slurmctld", "slurmd", "munged")
CLIENTS = ("sbatch", "squeue", "scontrol", "srun", "sinfo", "munge")
MIN_JOB_AGE = 3600


class ClusterUnavailable(RuntimeError):
    """SLURM cannot be installed here (not root, no apt-get, no package registry)."""


def missing_programs() -> list[str]:
    """SLURM and munge programs not found on PATH (or in /usr/sbin)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return [name for name in DAEMONS + CLIENTS if shutil.which(name, path=path) is None]


def install_packages(timeout: float = 600) -> None:
    """Install slurm-wlm and munge with apt-get when a program is missing.

    Raises ClusterUnavailable, naming the reason, when installing is impossible.
    """
    if not missing_programs():
        return
    if os.geteuid() != 0:
        raise ClusterUnavailable(
            "SLURM is not installed and the tests do not run as root"
        )
    if shutil.which("apt-get") is None:
        raise ClusterUnavailable("SLURM is not installed and apt-get is not available")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES],
    ):
        result = subprocess.run(
            command,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise ClusterUnavailable(
                f"`{' '.join(command)}` failed (exit {result.returncode}):\n"
                f"{(result.stdout + result.stderr)[-2000:]}"
            )
    still_missing = missing_programs()
    if still_missing:
        raise ClusterUnavailable(f"after apt-get install, {still_missing} are missing")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def memory_mb() -> int:
    """Most of this machine's memory in MB, as the node's RealMemory."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(int(line.split()[1]) / 1024 * 0.9)
    raise RuntimeError("MemTotal missing from /proc/meminfo")


def sbin(name: str) -> str:
    """Full path of a daemon (Debian puts them in /usr/sbin)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    found = shutil.which(name, path=path)
    if found is None:
        raise ClusterUnavailable(f"{name} not found; install {' '.join(PACKAGES)}")
    return found


@dataclass
class SlurmCluster:
    """One controller and one compute node (this host), started and stopped here.

    ``cpus`` is the node's CPU count; ``fake_gpus`` (0, 1 or 2) GPUs are advertised.
    Use as a context manager, or call ``start()`` and (always) ``stop()``.
    """

    cpus: int = 2
    fake_gpus: int = 2
    folder: Path | None = None
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    owns_folder: bool = False

    @property
    def conf(self) -> Path:
        return self.folder / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """The environment under which SLURM clients talk to this cluster."""
        path = f"{self.folder / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        return {**os.environ, "SLURM_CONF": str(self.conf), "PATH": path}

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self, timeout: float = 60) -> SlurmCluster:
        """Write the configuration, start munged, slurmctld and slurmd; wait for idle."""
        install_packages()
        if self.folder is None:
            # Not under pytest's 0700 temp folder: munged runs as the munge user.
            self.folder = Path(tempfile.mkdtemp(prefix="repdyn-slurm-"))
            self.owns_folder = True
        self.folder.chmod(0o755)
        try:
            self._start_munge()
            self._write_config()
            self._write_srun_shim()
            self._start("slurmctld", [sbin("slurmctld"), "-D", "-f", str(self.conf)])
            self._start("slurmd", [sbin("slurmd"), "-D", "-f", str(self.conf)])
            self._wait_until_idle(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, name: str, command: list[str], **kwargs) -> None:
        # The daemon writes its log here for its whole life.
        output = open(self.folder / f"{name}.out", "w")  # noqa: SIM115
        self.processes[name] = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
            **kwargs,
        )
        output.close()

    def _start_munge(self) -> None:
        """A private munged with its own key and socket, running as the munge user."""
        munge_dir = self.folder / "munge"
        munge_dir.mkdir()
        key = munge_dir / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        for path in (munge_dir, key):
            shutil.chown(path, "munge", "munge")
        self._start(
            "munged",
            [
                sbin("munged"),
                "--foreground",
                f"--key-file={key}",
                f"--socket={self.munge_socket}",
                f"--pid-file={munge_dir / 'munged.pid'}",
                f"--seed-file={munge_dir / 'munged.seed'}",
            ],
            user="munge",
            group="munge",
        )
        deadline = time.monotonic() + 20
        while not Path(self.munge_socket).exists():
            self._check_alive("munged")
            if time.monotonic() > deadline:
                raise RuntimeError(f"munged did not create {self.munge_socket}")
            time.sleep(0.1)

    @property
    def munge_socket(self) -> str:
        return str(self.folder / "munge" / "munge.socket")

    def _write_config(self) -> None:
        host = socket.gethostname().split(".")[0]
        for sub in ("state", "spool"):
            (self.folder / sub).mkdir()
        folder = self.folder
        if self.fake_gpus not in (0, 1, 2):
            raise ValueError(f"fake_gpus must be 0, 1 or 2, not {self.fake_gpus}")
        gres = f"Gres=gpu:{self.fake_gpus} " if self.fake_gpus else ""
        lines = [
            "ClusterName=repdyntest",
            f"SlurmctldHost={host}(127.0.0.1)",
            f"SlurmctldPort={free_port()}",
            f"SlurmdPort={free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            f"StateSaveLocation={folder / 'state'}",
            f"SlurmdSpoolDir={folder / 'spool'}",
            f"SlurmctldPidFile={folder / 'slurmctld.pid'}",
            f"SlurmdPidFile={folder / 'slurmd.pid'}",
            f"SlurmctldLogFile={folder / 'slurmctld.log'}",
            f"SlurmdLogFile={folder / 'slurmd.log'}",
            # No cgroups (containers rarely allow them) and no accounting database.
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none",
            "MpiDefault=none",
            "MailProg=/bin/true",
            "SwitchType=switch/none",
            "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "DefMemPerCPU=1000",  # a job without --mem must not take the whole node
            # Finished jobs stay visible to squeue, the executor's only status source.
            f"MinJobAge={MIN_JOB_AGE}",
            "ReturnToService=2",
            "SlurmdParameters=config_overrides",
            "GresTypes=gpu",
            (
                f"NodeName={host} NodeAddr=127.0.0.1 CPUs={self.cpus} "
                f"RealMemory={memory_mb()} {gres}State=UNKNOWN"
            ),
            f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP",
        ]
        self.conf.write_text("\n".join(lines) + "\n")
        # A GPU GRES needs one device file per GPU; two harmless ones stand in.
        devices = ("/dev/null", "/dev/zero")[: self.fake_gpus]
        gres_conf = "".join(f"NodeName={host} Name=gpu File={d}\n" for d in devices)
        (folder / "gres.conf").write_text(gres_conf)

    def _write_srun_shim(self) -> None:
        """bin/srun: the real srun, with SLURM_CONF set again when a caller dropped it."""
        real = shutil.which("srun")
        if real is None:
            raise ClusterUnavailable("srun not found; install slurm-client")
        shim = self.folder / "bin" / "srun"
        shim.parent.mkdir()
        shim.write_text(
            f'#!/bin/sh\nSLURM_CONF="${{SLURM_CONF:-{self.conf}}}" exec {real} "$@"\n'
        )
        shim.chmod(0o755)

    def _check_alive(self, name: str) -> None:
        process = self.processes[name]
        if process.poll() is not None:
            raise RuntimeError(
                f"{name} exited with {process.returncode}:\n{self.daemon_logs(name)}"
            )

    def daemon_logs(self, *names: str) -> str:
        """The tail of each daemon's output and log file, for error messages."""
        texts = []
        for name in names or tuple(self.processes):
            for path in (self.folder / f"{name}.out", self.folder / f"{name}.log"):
                if path.exists():
                    texts.append(f"--- {path.name}\n{path.read_text()[-3000:]}")
        return "\n".join(texts)

    def _wait_until_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            for name in self.processes:
                self._check_alive(name)
            result = self.run("sinfo", "--noheader", "--format=%T", check=False)
            state = result.stdout.strip()
            if state == "idle":
                return
            time.sleep(0.5)
        raise RuntimeError(
            f"the node is {state!r}, not idle, after {timeout} s:\n{self.daemon_logs()}"
        )

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run a SLURM client command against this cluster."""
        return subprocess.run(
            list(command),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=check,
        )

    def jobs(self) -> list[dict[str, str]]:
        """Every job the controller remembers (finished ones for MinJobAge seconds).

        Keys: id, name, state, cpus, memory (as "8000M"), time_limit (as "8:00:00"),
        gres (per node, as "gres:gpu:1" or "N/A") and comment (the executor writes
        "rule_<rule>_wildcards_<values>" there).
        """
        fields = ("id", "name", "state", "cpus", "memory", "time_limit", "gres")
        result = self.run(
            "squeue", "--states=all", "--noheader", "--format=%i|%j|%T|%C|%m|%l|%b|%k"
        )
        jobs = []
        for line in result.stdout.splitlines():
            *values, comment = line.split("|", len(fields))
            jobs.append({**dict(zip(fields, values)), "comment": comment})
        return jobs

    def stop(self) -> None:
        """Stop the daemons started here (slurmd, slurmctld, munged) and their jobs."""
        controller = self.processes.get("slurmctld")
        if controller is not None and controller.poll() is None:
            active = [
                job["id"]
                for job in self.jobs()
                if job["state"] in ("PENDING", "RUNNING", "CONFIGURING")
            ]
            if active:
                self.run("scancel", *active, check=False)
        for name in ("slurmd", "slurmctld", "munged"):
            process = self.processes.pop(name, None)
            if process is None or process.poll() is not None:
                continue
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                log.warning("%s ignored SIGTERM; killing it", name)
                process.kill()
                process.wait(timeout=10)
        if self.owns_folder and self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder, self.owns_folder = None, False
