"""adherence."""
