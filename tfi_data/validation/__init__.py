"""Validator: checks frames against a pipeline's rules (pandera). Never imports dagster."""

from tfi_data.validation.rules import RulesError, load_rules_file, schema_from_rules
from tfi_data.validation.validator import ValidationFailed, Validator

__all__ = ["RulesError", "ValidationFailed", "Validator", "load_rules_file", "schema_from_rules"]
