"""The outbox gateway's machinery, shared by `baomi watch` and `baomi review`: where an outbox's files go (layout),
how they get there without loss (journal, mover), when they are complete (tracking), and the watcher that scans them.
"""
