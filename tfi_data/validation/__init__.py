"""Validator: checks frames against a pipeline's rules (pandera), infers rules from data and
reports drift against them. Never imports dagster.

- rules.py: the rules file (syntax in its docstring) compiled to pandera schemas;
- validator.py: ``Validator.check`` -> ``Report`` (per-check outcomes, levels, quarantine split),
  ``Validator.validate`` raising ``ValidationFailed`` on errors;
- infer.py: ``infer_rules`` and ``rules_to_yaml`` (a commented rules file);
- drift.py: ``drift`` findings and ``merge_rules`` (accepted changes into a hand-edited file).
"""

from tfi_data.validation.drift import KINDS, MERGEABLE, Finding, Merge, drift, merge_rules
from tfi_data.validation.enforce import Enforced, RulesPlan, apply_verdict, enforce, plan_rules, rejected_records
from tfi_data.validation.infer import infer_rules, rules_to_yaml
from tfi_data.validation.rules import (
    RulesError,
    column_types,
    load_rules_file,
    parse_rules,
    schema_from_rules,
    schemas_from_mapping,
)
from tfi_data.validation.validator import FAILED_CHECKS, Outcome, Report, ValidationFailed, Validator

__all__ = [
    "FAILED_CHECKS",
    "KINDS",
    "MERGEABLE",
    "Enforced",
    "Finding",
    "Merge",
    "Outcome",
    "Report",
    "RulesError",
    "RulesPlan",
    "ValidationFailed",
    "Validator",
    "apply_verdict",
    "column_types",
    "drift",
    "enforce",
    "infer_rules",
    "load_rules_file",
    "merge_rules",
    "parse_rules",
    "plan_rules",
    "rejected_records",
    "rules_to_yaml",
    "schema_from_rules",
    "schemas_from_mapping",
]
