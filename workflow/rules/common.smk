# Config validation, the study plan and the final targets. Every results/ path and job list comes
# from mira.study.plan (PLAN); rules declare only inputs, outputs, logs and what differs from the
# profile's default threads and resources. The Snakefile has put the mira package on sys.path and
# read every config file strictly already.
import sys

from mira.config import validate_config
from mira.errors import ConfigError
from mira.study.plan import StudyPlan, paths

try:
    _validated = validate_config(config)
    PLAN = StudyPlan.from_config(_validated)
    if _validated["degrade"]["parameters"] or _validated["restore"]["train_noise"]:
        # parameter overrides are judged by running the library (numerics: only when the config sets them)
        from mira.study.checks import check_library_overrides

        check_library_overrides(PLAN)
except ConfigError as _exc:
    sys.exit(f"mira: config error: {_exc}")
config.clear()
config.update(_validated)

CONDA_ENV = "../../envs/mira.yaml"
