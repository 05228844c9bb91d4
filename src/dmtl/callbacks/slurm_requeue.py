"""Requeueing the running SLURM job, as Lightning's ``SLURMEnvironment`` handler does.

``FaultTolerance`` calls it after writing the stop checkpoint of the requeue signal (SIGUSR1 with
``#SBATCH --signal=SIGUSR1@120``), so the requeued job (same job id, hence same run folder) finds
that checkpoint and resumes from it.
"""

from __future__ import annotations

import os
import subprocess


def requeue_slurm_job() -> str:
    """``scontrol requeue`` this SLURM job (array task included); what happened, in words."""
    array_id = os.environ.get("SLURM_ARRAY_JOB_ID")
    job = (
        f"{array_id}_{os.environ['SLURM_ARRAY_TASK_ID']}"
        if array_id
        else os.environ.get("SLURM_JOB_ID", "")
    )
    if not job.replace("_", "").isdigit():
        return f"not requeued (no SLURM job id, got {job!r})"
    try:
        done = subprocess.run(["scontrol", "requeue", job], check=False, capture_output=True)
    except OSError as err:
        return f"requeue of job {job} failed ({err})"
    if done.returncode != 0:
        return f"requeue of job {job} failed: {done.stderr.decode(errors='replace').strip()}"
    return f"job {job} requeued"
