"""The Celery workers' configuration, read by `celery -A dagster_celery.app worker`.

dagster_celery's app imports a module of this name when it is on PYTHONPATH (deploy/serve.py
puts this folder there). The values come from the project's settings, the same that the
celery executor submits steps with: DAGSTER_CELERY_BROKER_URL, DAGSTER_CELERY_BACKEND_URL,
DAGSTER_CELERY_QUEUE. Every name of this module is handed to Celery as a setting, so it
defines lowercase Celery settings and nothing else.
"""

from assets_pkg.defs.executors import celery_app_config as _app_config
from assets_pkg.defs.executors import install_step_log_levels as _install_step_log_levels
from assets_pkg.shared.settings import Settings as _Settings

_config = _app_config(_Settings.from_env())

broker_url = _config["broker_url"]
result_backend = _config["result_backend"]
task_default_queue = _config["task_default_queue"]
task_acks_late = _config["task_acks_late"]
task_reject_on_worker_lost = _config["task_reject_on_worker_lost"]
worker_prefetch_multiplier = _config["worker_prefetch_multiplier"]
broker_connection_retry_on_startup = _config["broker_connection_retry_on_startup"]
result_expires = _config["result_expires"]
worker_redirect_stdouts = _config["worker_redirect_stdouts"]
worker_redirect_stdouts_level = _config["worker_redirect_stdouts_level"]

# Each line a step prints through Dagster's console logger at its own level, and only those
# at or above the worker's --loglevel (assets_pkg/defs/executors.py, StepLogLevels).
_install_step_log_levels()
