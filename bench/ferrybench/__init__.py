"""ferry's benchmark, run by bench/run (bench/bench.py). The modules, each importing only those above it:

    system            paths, units, deadlines, the exceptions; processes, sockets and /proc readings
    peers             the peers' settings and receiver processes, the nc -N sender, the Python peer, ferry's build
    results           the rows (Result), the alternating rounds, the table and the target lines
    options           the command line (bench/run --help)
    scenarios_client  a, b: one file from each sender; h: many files from ./client and an nc -N loop
    scenarios_upload  c, i, f: one upload from nc -N into a receiver, warm, cold, and with ferry's options
    scenarios_load    d: many uploads at once; e: many idle connections
    scenarios_s3      g: one upload into s3proxy, through ferry and through nc -l | rclone or aws
    launcher          bench/run --launcher: where ./client's start-up time goes
    runner            one run: the plan of scenarios, the machine, the output and the JSON
"""
