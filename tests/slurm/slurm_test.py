#!/usr/bin/env python3
"""A real single-node Slurm (Debian's slurm-wlm and munge, daemons started here on free ports with
their state in a temporary folder, stopped on every way out) runs configs/ci.toml through
scripts/slurm/sweep.sbatch as a job array of three shards: one task is killed and requeued while
it runs (scontrol requeue) and resumes; one is cancelled, merge --sweep says which shard is
incomplete and exits 1, that task alone is submitted again; the merged runs are then exactly the
unsharded sweep's, run for run.

usage: slurm_test.py GREENBATCH SOURCE_DIR"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

GREENBATCH = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/greenbatch"
SOURCE_DIR = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else "."
SHARDS = 3
DEADLINE_S = 420  # the whole test; each wait below is bounded by what is left of it


T0 = time.monotonic()


def note(what):
    """Progress on stderr, with the time since the start (CI's log shows where time went)."""
    print(f"[{time.monotonic() - T0:6.1f} s] {what}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def identities(path):
    """{identity: complete?} of a runs.jsonl, identity as merge keys it (config, rep)."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            key = (r["model"], r["rate_hz"], r["arrivals"], r["policy"], r["requests"], r["repetition"], r["seed"])
            out[key] = r.get("completed") == r["requests"] and not r.get("error")
    return out


class SlurmCluster:
    """munged, slurmctld and slurmd in `root`, foreground processes of this test."""

    def __init__(self, root):
        self.root = root
        self.procs = []
        self.node = "gbnode"
        self.env = dict(os.environ, SLURM_CONF=os.path.join(root, "slurm.conf"))

    def start(self):
        r = self.root
        for d in ("state", "spool", "log", "munge"):
            os.makedirs(os.path.join(r, d), exist_ok=True)
        key = os.path.join(r, "munge", "munge.key")
        with open(key, "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(key, 0o400)
        os.chmod(os.path.join(r, "munge"), 0o700)
        self.munge_socket = os.path.join(r, "munge", "munge.socket")
        self.spawn(["munged", "--foreground", "--force", "--key-file", key, "--socket", self.munge_socket,
                    "--pid-file", os.path.join(r, "munge", "munged.pid"), "--log-file", os.path.join(r, "log", "munged.log"),
                    "--seed-file", os.path.join(r, "munge", "munged.seed")])
        self.wait_for(lambda: os.path.exists(self.munge_socket), "munged's socket")
        cpus = os.cpu_count() or 1
        conf = f"""ClusterName=gbtest
SlurmctldHost={socket.gethostname()}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
SlurmUser=root
SlurmdUser=root
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName={self.node} NodeHostname={socket.gethostname()} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
"""
        with open(os.path.join(r, "slurm.conf"), "w", encoding="utf-8") as f:
            f.write(conf)
        self.spawn(["slurmctld", "-D", "-i", "-f", os.path.join(r, "slurm.conf")])
        self.spawn(["slurmd", "-D", "-N", self.node, "-f", os.path.join(r, "slurm.conf")])
        self.wait_for(lambda: "idle" in self.run(["sinfo", "-h", "-o", "%T"], check=False).stdout, "the node to be idle")

    def spawn(self, cmd):
        log = open(os.path.join(self.root, "log", os.path.basename(cmd[0]) + ".out"), "wb")
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env,
                             start_new_session=True)
        log.close()
        self.procs.append(p)
        return p

    def run(self, cmd, check=True, extra_env=None):
        env = dict(self.env, **(extra_env or {}))
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60, cwd=SOURCE_DIR)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)}: exit {r.returncode}\n{r.stdout}\n{r.stderr}\n{self.logs()}")
        return r

    def wait_for(self, cond, what, limit_s=60):
        end = time.monotonic() + min(limit_s, max(1.0, deadline - time.monotonic()))
        while time.monotonic() < end:
            for p in self.procs:
                if p.poll() is not None:
                    raise AssertionError(f"{p.args[0]} exited ({p.returncode}) while waiting for {what}\n{self.logs()}")
            if cond():
                return
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}\n{self.logs()}")

    def logs(self):
        text = ""
        for name in sorted(os.listdir(os.path.join(self.root, "log"))):
            with open(os.path.join(self.root, "log", name), errors="replace") as f:
                text += f"--- {name} (last lines)\n" + "".join(f.readlines()[-15:])
        return text

    def stop(self):
        """Every daemon, bounded: SIGTERM to its process group, SIGKILL after 10 s."""
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in reversed(self.procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)


deadline = time.monotonic() + DEADLINE_S


class SlurmArrayTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gb-slurm-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.cluster = SlurmCluster(os.path.join(self.dir, "cluster"))
        self.addCleanup(self.cluster.stop)  # registered before start: stopped whatever start reached
        self.cluster.start()
        note("munged, slurmctld and slurmd up, the node idle")
        self.out = os.path.join(self.dir, "results")

    def submit(self, array, sets=""):
        env = {"GB_SWEEP": "configs/ci.toml", "GB_SHARDS": str(SHARDS), "GB_OUT": self.out, "GB_BIN": GREENBATCH,
               "GB_SETS": sets}
        r = self.cluster.run(["sbatch", "--parsable", f"--array={array}", "--chdir", SOURCE_DIR,
                              f"--output={self.dir}/slurm-%A_%a.out", "scripts/slurm/sweep.sbatch"], extra_env=env)
        return r.stdout.strip().split(";")[0]

    def tasks(self, job):
        """{task id: state} of the job's array tasks still known to the controller; None when
        squeue could not say (a busy controller), which is not "none left"."""
        r = self.cluster.run(["squeue", "-h", "-r", "-j", job, "-o", "%K %T"], check=False)
        if r.returncode != 0:
            return None
        out = {}
        for line in r.stdout.split("\n"):
            if line.strip():
                k, st = line.split()
                out[int(k)] = st
        return out

    def wait_done(self, job):
        # Gone from the queue twice in a row, a second apart: a requeued task passes through
        # states in which squeue may briefly not list it.
        def gone():
            if self.tasks(job) != {}:
                return False
            time.sleep(1)
            return self.tasks(job) == {}
        self.cluster.wait_for(gone, f"job {job} to finish", limit_s=300)
        note(f"job {job} finished")

    def task_logs(self):
        text = ""
        for name in sorted(os.listdir(self.dir)):
            if name.startswith("slurm-") and name.endswith(".out"):
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    text += f"--- {name}\n" + "".join(f.readlines()[-10:])
        return text + self.cluster.logs()

    def merge(self, *extra):
        shards = sorted(os.path.join(self.out, d) for d in os.listdir(self.out) if d.startswith("shard-"))
        return subprocess.run([GREENBATCH, "merge", *shards, "--out", os.path.join(self.dir, "merged"), *extra],
                              capture_output=True, text=True, timeout=60, cwd=SOURCE_DIR)

    def test_array_requeue_resubmit_and_merge(self):
        # Each run followed by a 0.4 s cooldown: a shard takes a few seconds, long enough to kill.
        sets = 'cooldown="400ms"'
        job = self.submit(f"1-{SHARDS}", sets)
        # Task 2 is killed while it runs and requeued; it resumes where it stopped.
        self.cluster.wait_for(lambda: (self.tasks(job) or {}).get(2) == "RUNNING" and
                              os.path.exists(os.path.join(self.out, "shard-2", "runs.jsonl")), "task 2 to write a run")
        note("task 2 wrote a run: requeued")
        self.cluster.run(["scontrol", "requeue", f"{job}_2"])
        # Slurm holds a requeued task back for about two minutes (its BeginTime: the killed task's
        # credential is revoked until then; starting it sooner by hand fails it). It then starts
        # by itself and resumes.
        # Task 3 is cancelled before or while it runs: its shard stays incomplete.
        self.cluster.run(["scancel", f"{job}_3"])
        self.wait_done(job)
        r = self.merge("--sweep", "configs/ci.toml", "--set", sets, "--shards", str(SHARDS))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("INCOMPLETE", r.stderr)
        self.assertIn("incomplete shards: 3\n", r.stderr, self.task_logs())
        # Shard 3 alone, submitted again with the same script: the same shard of the same grid.
        job3 = self.submit("3", sets)
        self.wait_done(job3)
        r = self.merge("--sweep", "configs/ci.toml", "--set", sets, "--shards", str(SHARDS))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + self.cluster.logs())
        self.assertIn("complete: every one of the 24 runs", r.stderr)
        # Task 2 ran twice (requeued) and wrote each run once.
        with open(os.path.join(self.dir, f"slurm-{job}_2.out"), errors="replace") as f:
            self.assertIn("restart 1", f.read())
        shard2 = os.path.join(self.out, "shard-2", "runs.jsonl")
        with open(shard2, encoding="utf-8") as f:
            lines = [ln for ln in f if ln.strip()]
        self.assertEqual(len(lines), len(identities(shard2)))
        # Run for run, the unsharded sweep's grid.
        whole = os.path.join(self.dir, "whole")
        w = subprocess.run([GREENBATCH, "sweep", "configs/ci.toml", "--out", whole], capture_output=True, text=True,
                           timeout=120, cwd=SOURCE_DIR)
        self.assertEqual(w.returncode, 0, w.stderr)
        merged = identities(os.path.join(self.dir, "merged", "runs.jsonl"))
        self.assertEqual(merged, identities(os.path.join(whole, "runs.jsonl")))
        self.assertTrue(all(merged.values()))
        self.assertTrue(os.path.exists(os.path.join(self.dir, "merged", "runs.csv")))


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("the Slurm test starts munged, slurmctld and slurmd, which needs root (CI runs as root)", file=sys.stderr)
        sys.exit(1)
    for tool in ("munged", "slurmctld", "slurmd", "sbatch"):
        if not shutil.which(tool):
            print(f"{tool} not found: scripts/install-deps.sh installs slurm-wlm and munge", file=sys.stderr)
            sys.exit(1)
    unittest.main(argv=sys.argv[:1], verbosity=2)
