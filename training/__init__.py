"""Training and evaluation: data, prompts, fine-tuning, metrics, sweeps, reports, feedback export.

Entry points: `training.cli` (train_app, eval_app, report_command) and
`training.feedback.chat_report_summary` (light: no torch, no matplotlib) for the chat admin commands.
"""
