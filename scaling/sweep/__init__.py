"""Sweeps: a spec expands into runs (`spec`), the runs live in a store of run directories
(`store`), a scheduler hands them to a backend (`scheduler`) that trains them on local worker
processes or a Ray cluster (`backends`)."""
