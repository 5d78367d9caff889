"""baomi (保密): an outbound content-leak scanner for Chinese documents."""
