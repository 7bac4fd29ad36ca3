"""Provider metadata Airflow reads through the ``apache_airflow_provider`` entry point.

Kept as a literal (as Airflow's own providers generate it from provider.yaml); a test asserts the config
defaults here equal :data:`airflow_ai_scheduler.config.CONFIG_DEFAULTS`.
"""

from __future__ import annotations


def get_provider_info() -> dict:
    return {
        "package-name": "airflow-ai-scheduler",
        "name": "AI Scheduler",
        "description": "Cost-aware planning of Airflow tasks onto spot and on-demand fleets "
                       "(greedy, CP-SAT and LLM planners), with a history of what every task cost.",
        "versions": ["0.1.0"],
        "executors": ["airflow_ai_scheduler.airflow.executor.AiSchedulerExecutor"],
        "operators": [{"integration-name": "AI Scheduler",
                       "python-modules": ["airflow_ai_scheduler.airflow.operator"]}],
        "db-managers": ["airflow_ai_scheduler.history.db_manager.AiSchedulerDBManager"],
        "plugins": [{"name": "ai_scheduler", "plugin-class": "airflow_ai_scheduler.airflow.plugin.AiSchedulerPlugin"}],
        "cli": ["airflow_ai_scheduler.airflow.cli.get_ai_scheduler_cli_commands"],
        "config": {
            "ai_scheduler": {
                "description": "Cost-aware planning and routing of tasks to spot and on-demand fleets.",
                "options": {
                    "planner": {
                        "description": "Planner for DAG runs: greedy (fast list scheduling), optimal (OR-Tools "
                                       "CP-SAT) or llm (an LLM through an Airflow connection, validated and "
                                       "repaired by CP-SAT).",
                        "version_added": "0.1.0", "type": "string", "example": "llm", "default": "optimal",
                    },
                    "planner_time_limit_seconds": {
                        "description": "Time limit of the CP-SAT solver per plan (and per LLM-plan repair).",
                        "version_added": "0.1.0", "type": "float", "example": "30", "default": "10",
                    },
                    "plan_wait_seconds": {
                        "description": "How long a queued task may wait for the configured planner's plan "
                                       "(CP-SAT, LLM) before it is routed by the greedy plan, which is made first, "
                                       "in milliseconds. 0 (the default): route at once; tasks that started by the "
                                       "greedy plan keep their place in the later plan.",
                        "version_added": "0.1.0", "type": "float", "example": "5", "default": "0",
                    },
                    "fleets": {
                        "description": "Fleets as inline JSON: a list of {name, provider, region, instance_type, "
                                       "tier, slots, backend, options, price_per_hour, ...}. Empty: two local "
                                       "process pools (local-spot, local-on-demand).",
                        "version_added": "0.1.0", "type": "string",
                        "example": '[{"name": "spot", "provider": "aws", "region": "us-east-1", '
                                   '"instance_type": "m6i.xlarge", "tier": "spot", "slots": 8}]',
                        "default": "",
                    },
                    "fleets_file": {
                        "description": "Path of a YAML or JSON file with the fleets (used when fleets is empty).",
                        "version_added": "0.1.0", "type": "string", "example": "/opt/airflow/fleets.yaml",
                        "default": "",
                    },
                    "default_duration_hours": {
                        "description": "Expected runtime of a task with no history and no duration hint.",
                        "version_added": "0.1.0", "type": "float", "example": "0.5", "default": "0.1",
                    },
                    "history_lookback_runs": {
                        "description": "How many recent successful tries per task feed its runtime mean and spread.",
                        "version_added": "0.1.0", "type": "integer", "example": "50", "default": "20",
                    },
                    "cost_weight": {
                        "description": "Objective weight per expected USD.",
                        "version_added": "0.1.0", "type": "float", "example": "1.0", "default": "1.0",
                    },
                    "tardiness_weight": {
                        "description": "Objective weight per priority-weighted hour past a deadline.",
                        "version_added": "0.1.0", "type": "float", "example": "100", "default": "10.0",
                    },
                    "risk_weight": {
                        "description": "Objective weight per priority-weighted probability of missing a deadline "
                                       "or being interrupted.",
                        "version_added": "0.1.0", "type": "float", "example": "5", "default": "1.0",
                    },
                    "catalog_path": {
                        "description": "A price catalog CSV written by `ai-scheduler prices refresh`; empty: "
                                       "the bundled snapshot.",
                        "version_added": "0.1.0", "type": "string", "example": "/opt/airflow/prices.csv",
                        "default": "",
                    },
                    "llm_conn_id": {
                        "description": "Airflow connection (type pydanticai) of the LLM planner; its password is "
                                       "the API key.",
                        "version_added": "0.1.0", "type": "string", "example": "gemini", "default": "pydanticai_default",
                    },
                    "llm_model": {
                        "description": "Model of the LLM planner, e.g. google:gemini-2.5-flash; empty: the "
                                       "connection's.",
                        "version_added": "0.1.0", "type": "string", "example": "google:gemini-2.5-pro", "default": "",
                    },
                    "llm_timeout_seconds": {
                        "description": "Overall time limit of one LLM planning call, retries included; then the "
                                       "solver plans.",
                        "version_added": "0.1.0", "type": "float", "example": "30", "default": "60",
                    },
                    "spot_policy": {
                        "description": "What to do after a spot preemption: a built-in policy name "
                                       "(adaptive_slack, safe_uniform_progress, uniform_progress, greedy, on_demand, "
                                       "spot_only) or "
                                       "an import path of your own SpotPolicy.",
                        "version_added": "0.1.0", "type": "string", "example": "greedy",
                        "default": "adaptive_slack",
                    },
                    "preemption_retries": {
                        "description": "Relaunches after spot preemptions, separate from the task's own retries.",
                        "version_added": "0.1.0", "type": "integer", "example": "5", "default": "3",
                    },
                    "max_hold_seconds": {
                        "description": "Longest a queued task is held for its planned start time (a cheaper "
                                       "price window) before it is released anyway.",
                        "version_added": "0.1.0", "type": "float", "example": "3600", "default": "300",
                    },
                    "approval_timeout_minutes": {
                        "description": "For DAGs that ask for plan approval (param ai_scheduler_require_approval): "
                                       "how long a run's plan waits for a person before approval_on_timeout "
                                       "decides. Empty: wait until someone decides. A DAG's param "
                                       "ai_scheduler_approval_timeout_minutes overrides it.",
                        "version_added": "0.1.0", "type": "float", "example": "60", "default": "",
                    },
                    "approval_on_timeout": {
                        "description": "What a plan approval that timed out decides: reject (the run fails with "
                                       "the reason) or approve. A DAG's param ai_scheduler_approval_on_timeout "
                                       "overrides it.",
                        "version_added": "0.1.0", "type": "string", "example": "approve", "default": "reject",
                    },
                    "checkpoint_dir": {
                        "description": "Where Checkpoint blobs go: a local folder or an object-storage URL "
                                       "(s3://bucket/prefix). Empty: $AIRFLOW_HOME/ai_scheduler/checkpoints.",
                        "version_added": "0.1.0", "type": "string", "example": "s3://my-bucket/checkpoints",
                        "default": "",
                    },
                    "delay_cost_per_hour": {
                        "description": "What an hour of delay of a task costs (USD), counted in the objective from "
                                       "its earliest possible finish: under a burst, idle dearer capacity is used "
                                       "when waiting for the cheapest pool costs more than the price difference. "
                                       "Applies to tasks no deadline bounds (a deadline says how long waiting is "
                                       "free). 0 = waiting is free. DAG param ai_scheduler_delay_cost_per_hour and the hint "
                                       "placement(delay_cost_per_hour=...) override it.",
                        "version_added": "0.1.0", "type": "float", "example": "5", "default": "1.0",
                    },
                    "carbon_weight": {
                        "description": "w_carbon: USD per kg CO2e in the objective (0 = emissions are reported, not "
                                       "optimised). DAG params ai_scheduler_carbon_weight and "
                                       "ai_scheduler_carbon_budget_kg (a cap per run) override/add to it.",
                        "version_added": "0.1.0", "type": "float", "example": "0.1", "default": "0.0",
                    },
                    "carbon_forecast_file": {
                        "description": "CSV of grid carbon intensity over time (location,from,g_co2e_per_kwh), read "
                                       "at each planning; empty: the bundled per-region table.",
                        "version_added": "0.1.0", "type": "string", "example": "/opt/airflow/carbon_forecast.csv",
                        "default": "",
                    },
                    "commitments": {
                        "description": "Reserved instances and savings plans as JSON: a list of {commitmentId, kind "
                                       "(reserved|savings_plan), instances | usdPerHour, discount, "
                                       "amortizedUsdPerHour, offerIds | provider/regions/instanceTypes}. A fleet's "
                                       "reserved_instances adds one for that fleet.",
                        "version_added": "0.1.0", "type": "string",
                        "example": '[{"commitmentId": "sp1", "kind": "savings_plan", "usdPerHour": 2.0, '
                                   '"discount": 0.28, "provider": "aws"}]',
                        "default": "",
                    },
                    "measure_usage": {
                        "description": "Measure each task try where it runs (CPU seconds, peak memory, GPU "
                                       "memory, I/O bytes) and record it in the task history; read by "
                                       "'airflow ai-scheduler rightsize' and the anomaly flags.",
                        "version_added": "0.1.0", "type": "boolean", "example": "False", "default": "True",
                    },
                    "dispatch_policy": {
                        "description": "Which due task a fleet runs first when more are due than it has free "
                                       "slots: a dispatch policy name (priority_weight = Airflow's own order); "
                                       "a fleet's own dispatch_policy overrides it. Third-party policies "
                                       "register under the entry-point group airflow_ai_scheduler.dispatch_policies.",
                        "version_added": "0.2.0", "type": "string", "example": "fair_share",
                        "default": "priority_weight",
                    },
                    "dispatch_options": {
                        "description": "Keyword options of the default dispatch policy as a JSON object, e.g. "
                                       "{\"path\": \"/opt/airflow/rl_policy.npz\"} for rl (a fine-tuned policy) or "
                                       "{\"by\": \"owner\"} for fair_share; a fleet's dispatch_options override them.",
                        "version_added": "0.2.0", "type": "string", "example": "{\"path\": \"/opt/airflow/rl.npz\"}",
                        "default": "",
                    },
                },
            },
        },
    }
