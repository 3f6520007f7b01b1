#!/usr/bin/env bash
# Stand-in for a batch scheduler's submit command (sbatch) in the cluster-generic test:
#   snakemake --executor cluster-generic --cluster-generic-submit-cmd tests/cluster/local_submit.sh --jobs 2
# Each job script runs as its own detached process, from another working directory, with a scrubbed
# environment (only PATH, HOME and a locale), as a job on another node would. Snakemake learns that a
# job ended from the jobfinished/jobfailed marker its job script touches. Prints a job id.
set -euo pipefail
jobscript="${!#}"
cd /
env -i PATH="$PATH" HOME="${HOME:-/tmp}" LANG=C.UTF-8 \
    setsid bash "$jobscript" >"${jobscript}.out" 2>&1 </dev/null &
echo "local-$!"
