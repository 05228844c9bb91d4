"""Training terms: what each method of the field adds to the supervised multi-task loss."""

from dmtl.terms.base import TermInputs, TermOutput, TrainingTerm
from dmtl.terms.registry import TERMS, build_terms

__all__ = ["TERMS", "TermInputs", "TermOutput", "TrainingTerm", "build_terms"]
