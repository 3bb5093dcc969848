"""Evaluation: evaluators, runner, statistics, reports, the regression gate, auto-evaluation."""
