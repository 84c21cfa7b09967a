"""The run store's one owner: every path, lock, read, write, quarantine and status of a sweep
directory and its run directories, below both the trainer (scaling.training) and the sweep
(scaling.sweep).

    files     the file names; opening without following links; quarantine; stale temporaries
    curve     curve.parquet (its one column list)
    record    record.json and config.json (one corruption policy), RunRecord, RunSink
    lock      a run's lock and the sweep lock
    events    events.jsonl
    meta      sweep.json
    protocol  claim, final record, one attempt at a run, a crashed run's record, run status
    summary   summary.parquet and the status table (one column list)
"""
