#!/usr/bin/env python3
"""Statistics and tables for bench/bus.

  bus_report.py trace PERF_SCRIPT_TEXT OUTDIR SIZES COUNT
      Turn the `perf script` text of a ping's write() and writev() calls into
      per-message round-trip times. The ping prints "phase rtt SIZE warmup",
      "... timed" and "... end" on standard output (fd 1) and sends one
      REQUEST frame per write on the bus socket (fd 3). Between the "timed"
      and "end" lines of each size it sends exactly COUNT requests, one at a
      time, so the gaps between consecutive request writes are COUNT - 1
      round-trip times. Writes OUTDIR/rtt-SIZE.ns, one time in ns a line.

  bus_report.py events PERF_SCRIPT_TEXT ROOT_PID COMMS OUTFILE
      Read the `perf script --show-task-events` text of a system-wide record
      of syscall and sched_switch tracepoints. Count the events of the
      processes that descend from ROOT_PID and whose name is in the
      comma-separated COMMS, and sum their CPU time between context switches.
      Writes "NAME VALUE" lines: reads, writes, waits, switches and cpu_us:COMM.

  bus_report.py report RESULTS_DIR
      Print the machine, the latency and throughput tables, the ratios, the
      goals and the checks from the files that bench/bus wrote.
"""
import math
import os
import re
import statistics
import sys

CONTENDERS = [
    ("raw-direct", "raw AF_UNIX, direct (no broker)"),
    ("raw-relay", "raw AF_UNIX through a relay (one brokered hop)"),
    ("zeromq", "ZeroMQ REQ/REP and PUSH/PULL, ipc:// (no broker)"),
    ("dbus", "D-Bus method call and signal, dbus-daemon"),
    ("cashstory-c", "CashStory broker, C clients"),
    ("cashstory-js", "CashStory broker, JavaScript apps"),
]
LABELS = dict(CONTENDERS)

TRACE_LINE = re.compile(r"^\s*(\d+)\s+(\d+\.\d+):\s+syscalls:sys_enter_writev?:\s+fd:\s+(0x[0-9a-f]+)")


def fail(message):
    print(f"bus_report.py: {message}", file=sys.stderr)
    sys.exit(1)


# ---- trace -------------------------------------------------------------------


def trace_to_samples(text_path, outdir, sizes, count):
    events = []
    with open(text_path) as lines:
        for line in lines:
            match = TRACE_LINE.match(line)
            if match:
                events.append((float(match.group(2)), int(match.group(3), 16)))
    markers = [i for i, (_, fd) in enumerate(events) if fd == 1]
    if len(markers) != 3 * len(sizes):
        fail(f"{text_path}: {len(markers)} writes to standard output, expected 3 per size "
             f"({3 * len(sizes)}); the trace is incomplete")
    for k, size in enumerate(sizes):
        timed, end = markers[3 * k + 1], markers[3 * k + 2]
        stamps = [t for t, fd in events[timed + 1:end] if fd == 3]
        if len(stamps) != count:
            fail(f"{text_path}: {len(stamps)} request writes for size {size}, expected {count}; "
                 "perf lost events or the app wrote other frames")
        with open(os.path.join(outdir, f"rtt-{size}.ns"), "w") as out:
            for a, b in zip(stamps, stamps[1:]):
                out.write(f"{round((b - a) * 1e9)}\n")


# ---- reading results ---------------------------------------------------------------


def read_fields(path):
    """Read "key=value key=value" text into a dict of strings."""
    with open(path) as f:
        return dict(item.split("=", 1) for item in f.read().split())


def read_samples(path):
    with open(path) as f:
        return [int(line) for line in f if line.strip()]


def percentile(sorted_values, fraction):
    """Nearest-rank percentile of an already sorted list."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def rounds_of(results):
    names = sorted(name for name in os.listdir(results) if name.startswith("round-"))
    return [os.path.join(results, name) for name in names]


def latency(results, contender, size):
    """Pooled per-message samples of every round: (median µs, p99 µs, n), or
    None. For the JavaScript apps the samples come from the trace."""
    samples = []
    for round_dir in rounds_of(results):
        path = os.path.join(round_dir, contender, f"rtt-{size}.ns")
        if os.path.exists(path):
            samples += read_samples(path)
    if not samples:
        return None
    samples.sort()
    return statistics.median(samples) / 1e3, percentile(samples, 0.99) / 1e3, len(samples)


def mean_latency(results, contender, size, subdir=None):
    """Mean µs per round trip from the JavaScript app's own Date.now() clock,
    over every round (or in one check folder)."""
    folders = [os.path.join(results, subdir)] if subdir else rounds_of(results)
    total_ms = total_count = 0
    for folder in folders:
        path = os.path.join(folder, contender, f"rtt-{size}.txt")
        if os.path.exists(path):
            fields = read_fields(path)
            total_ms += float(fields["elapsed_ms"])
            total_count += int(fields["count"])
    return total_ms * 1e3 / total_count if total_count else None


def throughput(results, contender, size):
    """Median over the rounds of (messages/s, MB/s, retransmitted), or None."""
    values = []
    for round_dir in rounds_of(results):
        path = os.path.join(round_dir, contender, f"flow-{size}.txt")
        if os.path.exists(path):
            fields = read_fields(path)
            seconds = int(fields["elapsed_ns"]) / 1e9
            values.append((int(fields["messages"]) / seconds, int(fields["bytes"]) / seconds / 1e6,
                           int(fields["retransmitted"])))
    if not values:
        return None
    return (statistics.median(v[0] for v in values), statistics.median(v[1] for v in values),
            sum(v[2] for v in values), [v[0] for v in values])


def others_load(results, contender):
    loads = []
    for round_dir in rounds_of(results):
        path = os.path.join(round_dir, contender, "load.txt")
        if os.path.exists(path):
            fields = read_fields(path)
            loads.append((float(fields["others"]), float(fields["steal"])))
    if not loads:
        return "-"
    return " / ".join(f"{others:.2f}" for others, _ in loads)


# ---- report ------------------------------------------------------------------------


def fmt(value, digits=1):
    return "-" if value is None else f"{value:,.{digits}f}"


def ratio(value, reference):
    if value is None or reference is None or reference == 0:
        return "-"
    return f"{value / reference:.2f}"


def print_machine(results):
    print("## Machine\n")
    with open(os.path.join(results, "machine.tsv")) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("\t")
            print(f"- {key}: {value}")
    with open(os.path.join(results, "params.tsv")) as f:
        params = dict(line.rstrip("\n").split("\t", 1) for line in f if "\t" in line)
    print()
    return params


def print_latency(results, sizes, params):
    print("## Round-trip latency, µs per message\n")
    print(f"{params['rtt_warmup']} warm-up and {params['rtt_count']} timed round trips per size "
          f"and round, {params['rounds']} round(s) pooled. Ratios compare medians: below 1 is "
          "faster than the reference. 'others' is the CPU load of other processes during each "
          "round (CPUs).\n")
    print("| contender | payload B | median | p99 | vs D-Bus | vs raw relay | others |")
    print("|---|---:|---:|---:|---:|---:|---|")
    table = {}
    for size in sizes:
        dbus = latency(results, "dbus", size)
        relay = latency(results, "raw-relay", size)
        for contender, label in CONTENDERS:
            value = latency(results, contender, size)
            table[contender, size] = value
            median = value[0] if value else None
            if contender == "cashstory-js" and value is None:
                mean = mean_latency(results, contender, size)
                label += " (mean from Date.now(); no trace)"
                median = mean
            print(f"| {label} | {size} | {fmt(median)} | {fmt(value[1] if value else None)} | "
                  f"{ratio(median, dbus[0] if dbus else None)} | "
                  f"{ratio(median, relay[0] if relay else None)} | {others_load(results, contender)} |")
    print()
    return table


def print_throughput(results, sizes, params):
    print("## One-way throughput\n")
    print(f"{params['flow_warmup']} warm-up messages, then {params['flow_count']} timed messages "
          f"per size and round; median of {params['rounds']} round(s). MB/s counts payload bytes "
          "(10^6 bytes). 'resent' is the total of publishes that the CashStory broker dropped "
          f"for a full receiver queue (EAGAIN) and the sender sent again (window "
          f"{params['window']}). Ratios above 1 are faster than the reference.\n")
    print("| contender | payload B | messages/s | MB/s | resent | vs D-Bus | vs raw relay | "
          "messages/s per round |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    table = {}
    for size in sizes:
        dbus = throughput(results, "dbus", size)
        relay = throughput(results, "raw-relay", size)
        for contender, label in CONTENDERS:
            value = throughput(results, contender, size)
            table[contender, size] = value
            if value is None:
                print(f"| {label} | {size} | - | - | - | - | - | - |")
                continue
            rounds = ", ".join(f"{v:,.0f}" for v in value[3])
            print(f"| {label} | {size} | {value[0]:,.0f} | {value[1]:,.1f} | {value[2]:,} | "
                  f"{ratio(value[0], dbus[0] if dbus else None)} | "
                  f"{ratio(value[0], relay[0] if relay else None)} | {rounds} |")
    print()
    return table


def print_goals(sizes, lat, thr):
    print("## Goals\n")
    print("'Wide margin' is read here as at least 2 times better than D-Bus; the brief sets no "
          "number.\n")
    for contender in ("cashstory-c", "cashstory-js"):
        for size in sizes:
            cs_lat, dbus_lat, relay_lat = (lat.get((c, size)) for c in (contender, "dbus", "raw-relay"))
            cs_thr, dbus_thr, relay_thr = (thr.get((c, size)) for c in (contender, "dbus", "raw-relay"))
            checks = []
            if cs_lat and dbus_lat:
                r = cs_lat[0] / dbus_lat[0]
                checks.append(f"latency {r:.2f}x D-Bus's ({'met' if r <= 0.5 else 'not met'}: "
                              "at most 0.5x)")
            if cs_thr and dbus_thr:
                r = cs_thr[0] / dbus_thr[0]
                checks.append(f"throughput {r:.2f}x D-Bus's ({'met' if r >= 2 else 'not met'}: "
                              "at least 2x)")
            if contender == "cashstory-c" and cs_lat and relay_lat:
                r = cs_lat[0] / relay_lat[0]
                checks.append(f"latency {r:.2f}x the raw relay's ({'met' if r <= 2 else 'not met'}: "
                              "at most 2x)")
            if contender == "cashstory-c" and cs_thr and relay_thr:
                r = cs_thr[0] / relay_thr[0]
                checks.append(f"throughput {r:.2f}x the raw relay's "
                              f"({'met' if r >= 0.5 else 'not met'}: at least 0.5x)")
            print(f"- {LABELS[contender]}, {size} B: " + "; ".join(checks))
    print()


def print_checks(results, sizes):
    check = os.path.join(results, "check")
    if not os.path.isdir(check):
        return
    print("## Checks of the method\n")
    traced = os.path.join(check, "cashstory-c-traced")
    if os.path.isdir(traced):
        print("C clients, one run with the write() trace attached: the ping's own clock "
              "against the gaps between its request writes in the trace (µs).\n")
        print("| payload B | own clock median | own clock p99 | trace median | trace p99 |")
        print("|---:|---:|---:|---:|---:|")
        for size in sizes:
            own = sorted(read_samples(os.path.join(traced, f"rtt-{size}.ns")))
            trace = sorted(read_samples(os.path.join(traced, "trace", f"rtt-{size}.ns")))
            print(f"| {size} | {statistics.median(own) / 1e3:.1f} | "
                  f"{percentile(own, 0.99) / 1e3:.1f} | {statistics.median(trace) / 1e3:.1f} | "
                  f"{percentile(trace, 0.99) / 1e3:.1f} |")
        print()
    if os.path.isdir(os.path.join(check, "cashstory-js")):
        print("JavaScript apps, mean µs per round trip from the app's Date.now(), with and "
              "without the trace attached:\n")
        for size in sizes:
            with_trace = mean_latency(results, "cashstory-js", size)
            without = mean_latency(results, "cashstory-js", size, "check")
            print(f"- {size} B: {fmt(with_trace)} traced (all rounds), {fmt(without)} untraced")
        print()


CALL_GROUPS = {
    "reads": ("read", "readv", "recvmsg", "recvfrom"),
    "writes": ("write", "writev", "sendmsg", "sendto"),
    "waits": ("poll", "ppoll", "epoll_wait", "epoll_pwait"),
    "epoll_ctl": ("epoll_ctl",),
}
GROUP_OF = {call: group for group, calls in CALL_GROUPS.items() for call in calls}
# Messages in a profile run beyond those of the base run (bench/bus).
PROFILE_MESSAGES = {"rtt": 5000, "flow": 20000}

EVENT_LINE = re.compile(r"^\s*(.*?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+(\d+\.\d+):\s+(\S+?):\s(.*)$")
FORK = re.compile(r"PERF_RECORD_FORK\((\d+):\d+\):\((\d+):\d+\)")
SWITCH_NEXT = re.compile(r"next_pid=(\d+)")


def count_events(text_path, root, comms, out_path):
    parent = {}
    counts = {"reads": 0, "writes": 0, "waits": 0, "epoll_ctl": 0, "switches": 0}
    cpu_ns = {}
    comm_of = {}
    running = {}  # cpu -> (pid, since)
    mine = {}

    def descends(pid):
        if pid not in mine:
            chain, p = [], pid
            while p not in mine and p != root and p in parent and p not in chain:
                chain.append(p)
                p = parent[p]
            found = mine.get(p, p == root)
            for q in chain + [pid]:
                mine[q] = found
        return mine[pid]

    with open(text_path, errors="replace") as lines:
        for line in lines:
            fork = FORK.search(line)
            if fork:
                # A new thread has its process's pid: only new processes
                # have a parent here.
                child, forked_by = int(fork.group(1)), int(fork.group(2))
                if child != forked_by:
                    parent[child] = forked_by
                continue
            match = EVENT_LINE.match(line)
            if not match:
                continue
            comm, pid, cpu, time = match.group(1), int(match.group(2)), int(match.group(4)), float(match.group(5))
            event = match.group(6).split(":")[-1]
            if event == "sched_switch":
                previous = running.get(cpu)
                if previous and previous[0] == pid and comm in comms and descends(pid):
                    cpu_ns[comm] = cpu_ns.get(comm, 0) + (time - previous[1]) * 1e9
                next_pid = SWITCH_NEXT.search(match.group(7))
                running[cpu] = (int(next_pid.group(1)), time) if next_pid else None
                if comm in comms and descends(pid):
                    counts["switches"] += 1
                continue
            call = event.replace("sys_enter_", "")
            if call in GROUP_OF and comm in comms and descends(pid):
                counts[GROUP_OF[call]] += 1
    with open(out_path, "w") as out:
        for name, value in counts.items():
            out.write(f"{name} {value}\n")
        for comm in sorted(comms):
            out.write(f"cpu_us:{comm} {cpu_ns.get(comm, 0) / 1e3:.0f}\n")


def read_counts(path):
    with open(path) as f:
        return {name: float(value) for name, value in (line.split() for line in f if line.strip())}


def print_profile(results):
    profile = os.path.join(results, "profile")
    if not os.path.isdir(profile):
        return
    print("## Where the time goes\n")
    print("Per message, 100-byte payloads, counted by perf on every CPU for the contender's own "
          "processes only: a run with 5,000 more round trips (or 20,000 more one-way messages) "
          "minus a run with one, divided by that number. 'reads' counts read, readv, recvmsg "
          "and recvfrom, 'writes' their write counterparts, 'waits' poll, ppoll, epoll_wait and "
          "epoll_pwait, 'switches' the times a process left a CPU. CPU µs is the time on a CPU "
          "between context switches, by process name.\n")
    print("| contender | kind | reads | writes | waits | epoll_ctl | switches | CPU µs by process |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for contender, label in CONTENDERS:
        paths = [os.path.join(profile, f"{contender}-{kind}.txt") for kind in ("base", "rtt", "flow")]
        if not all(os.path.exists(path) for path in paths):
            continue
        base = read_counts(paths[0])
        for kind, messages in PROFILE_MESSAGES.items():
            run = read_counts(os.path.join(profile, f"{contender}-{kind}.txt"))

            def per_message(name):
                return (run.get(name, 0) - base.get(name, 0)) / messages

            cells = [f"{per_message(name):.2f}"
                     for name in ("reads", "writes", "waits", "epoll_ctl", "switches")]
            cpu = ", ".join(f"{name[7:]} {per_message(name):.1f}" for name in sorted(run)
                            if name.startswith("cpu_us:"))
            what = "per round trip" if kind == "rtt" else "per one-way message"
            print(f"| {label} | {what} | " + " | ".join(cells) + f" | {cpu} |")
    print()
    for kind, what in (("rtt", "10,000 round trips"), ("flow", "50,000 one-way messages")):
        for part, title in (("broker", "CPU samples of cashstoryd (the broker) by function"),):
            path = os.path.join(profile, f"cpu-{kind}-{part}.txt")
            if os.path.exists(path):
                print(f"{title}, C clients, {what} of 100 bytes (perf, all CPUs, 2 kHz, "
                      "percentages of the broker's samples):\n")
                print("```")
                with open(path) as f:
                    print(f.read().rstrip())
                print("```\n")


def report(results):
    params = print_machine(results)
    sizes = [int(s) for s in params["sizes"].split(",")]
    lat = print_latency(results, sizes, params)
    thr = print_throughput(results, sizes, params)
    print_goals(sizes, lat, thr)
    print_checks(results, sizes)
    print_profile(results)


def main(argv):
    if len(argv) == 6 and argv[1] == "events":
        count_events(argv[2], int(argv[3]), set(argv[4].split(",")), argv[5])
    elif len(argv) == 6 and argv[1] == "trace":
        trace_to_samples(argv[2], argv[3], [int(s) for s in argv[4].split(",")], int(argv[5]))
    elif len(argv) == 3 and argv[1] == "report":
        report(argv[2])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv)
