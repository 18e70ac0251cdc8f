#!/usr/bin/python3
"""Helper of bench/run: the job and server tables, one-run summaries, and
the report (latest.md, latest.json, one PNG per job family).

    report.py jobs [--quick|--all]    job table, tab-separated, for bench/run
    report.py one FIO_JSON            one line summing up a fio run
    report.py final WORKDIR OUTDIR    write the report from WORKDIR's runs
    report.py plots OUTDIR            draw OUTDIR's plots again from its
                                      latest.json (once gnuplot is there)

It measures nothing and asserts nothing: it only reads what bench/run
recorded and turns it into tables and plots.
"""
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys

# name, family, fio rw, block size, iodepth per job, numjobs (= NBD connections)
JOBS = [
    ("rr4k-qd1", "randread", "randread", "4k", 1, 1),
    ("rr4k-qd32", "randread", "randread", "4k", 32, 1),
    ("rr4k-4conn", "randread", "randread", "4k", 8, 4),
    ("rw4k-qd1", "randwrite", "randwrite", "4k", 1, 1),
    ("rw4k-qd32", "randwrite", "randwrite", "4k", 32, 1),
    ("seqr1m-qd8", "seq1m", "read", "1m", 8, 1),
    ("seqw1m-qd8", "seq1m", "write", "1m", 8, 1),
    ("seqr4m-qd8", "seq4m", "read", "4m", 8, 1),
    ("seqw4m-qd8", "seq4m", "write", "4m", 8, 1),
]
QUICK_JOBS = ["rr4k-qd1", "rr4k-qd32", "rw4k-qd32"]
# jobs only a family of its own runs unless --jobs names them (bench/rbd.sh)
EXTRA_JOBS = ["seqr4m-qd8", "seqw4m-qd8"]

FAMILIES = {
    "randread": "4k random read",
    "randwrite": "4k random write",
    "seq1m": "1 MiB sequential (qd 8)",
    "seq4m": "4 MiB sequential (qd 8)",
}

JOB_LABEL = {
    "rr4k-qd1": "randread 4k qd1",
    "rr4k-qd32": "randread 4k qd32",
    "rr4k-4conn": "randread 4k 4 conn x qd8",
    "rw4k-qd1": "randwrite 4k qd1",
    "rw4k-qd32": "randwrite 4k qd32",
    "seqr1m-qd8": "read 1M qd8",
    "seqw1m-qd8": "write 1M qd8",
    "seqr4m-qd8": "read 4M qd8",
    "seqw4m-qd8": "write 4M qd8",
}

# name, kind, label; the order is the order of every table and plot
SERVERS = [
    ("lloop-serve", "nbd", "lloop serve"),
    ("nbdkit", "nbd", "nbdkit file"),
    ("qemu-nbd", "nbd", "qemu-nbd"),
    ("lloop-attach", "local", "lloop attach"),
    ("lloop-attach-engine", "local", "lloop attach --no-passthrough"),
    ("loop", "local", "kernel loop (dio)"),
    ("qsd-fuse", "local", "qemu-storage-daemon FUSE + loop"),
    ("nbdfuse", "local", "nbdfuse + nbdkit + loop"),
    ("lloop-tls", "tls", "lloop serve, TLS"),
    ("lloop-tcp", "tls", "lloop serve, plaintext TCP"),
    ("nbdkit-tls", "tls", "nbdkit file, TLS"),
    ("lloop-rbd", "rbd", "lloop serve rbd:"),
    ("qemu-nbd-rbd", "rbd", "qemu-nbd, qemu's rbd driver"),
]
# the families with a section of their own, not the job-family tables
OWN_SECTION = ("tls", "rbd")
SERVER_LABEL = {n: l for n, _, l in SERVERS}
PLOT_LABEL = {
    "lloop-serve": "lloop serve", "nbdkit": "nbdkit", "qemu-nbd": "qemu-nbd",
    "lloop-attach": "lloop attach", "lloop-attach-engine": "lloop attach (engine)",
    "loop": "kernel loop", "qsd-fuse": "qsd FUSE+loop", "nbdfuse": "nbdfuse+loop",
    "lloop-tls": "lloop TLS", "lloop-tcp": "lloop plaintext", "nbdkit-tls": "nbdkit TLS",
    "lloop-rbd": "lloop rbd:", "qemu-nbd-rbd": "qemu-nbd rbd",
}
SERVER_KIND = {n: k for n, k, _ in SERVERS}

# which lloop row is compared with which peers
RATIOS = [
    ("lloop-serve", ["nbdkit", "qemu-nbd"]),
    ("lloop-attach", ["loop", "qsd-fuse", "nbdfuse", "lloop-attach-engine"]),
    ("lloop-attach-engine", ["loop", "qsd-fuse", "nbdfuse"]),
    ("lloop-tls", ["lloop-tcp", "nbdkit-tls"]),
    ("lloop-rbd", ["qemu-nbd-rbd"]),
]

# issue 8's targets for the TLS rows: (lloop, peer) -> {job: least ratio}
TLS_TARGETS = {
    ("lloop-tls", "lloop-tcp"): {"seqr1m-qd8": 0.7, "seqw1m-qd8": 0.7},
    ("lloop-tls", "nbdkit-tls"): {"seqr1m-qd8": 1.2, "seqw1m-qd8": 1.2,
                                  "rr4k-qd32": 1.2},
}

# issue 10's targets for the rbd: rows, every job: IOPS at least 1.0x
# qemu-nbd's (the cluster dominates), server CPU per I/O at most 0.7x
RBD_TARGETS = {("lloop-rbd", "qemu-nbd-rbd"): {"iops": 1.0, "cpu": 0.7}}

SERVER_SETUP = {
    "lloop-serve": "`lloop serve --listen unix:SOCK FILE` (O_DIRECT, io_uring; "
                   "`--threads 1` when pinned); fio nbd engine",
    "nbdkit": "`nbdkit -U SOCK file FILE cache=none fadvise=random` "
              "(page cache dropped behind each request, no readahead: "
              "the nearest to O_DIRECT it has); fio nbd engine",
    "qemu-nbd": "`qemu-nbd --cache=none --aio=io_uring -f raw -t -e 8 -k SOCK FILE` "
                "(--aio=threads if io_uring is refused); fio nbd engine",
    "lloop-attach": "`lloop attach FILE` (FUSE passthrough for a plain file); "
                    "fio libaio direct=1 on the device",
    "lloop-attach-engine": "`lloop attach --no-passthrough FILE` (every request "
                           "through lloop's engine); fio libaio direct=1",
    "loop": "`losetup --direct-io=on -b 4096 -f --show FILE`; fio libaio "
            "direct=1 (no server process: its CPU is in kernel workers)",
    "qsd-fuse": "`qemu-storage-daemon --blockdev driver=file,...,cache.direct=on,"
                "aio=io_uring --export type=fuse,...,writable=on` then "
                "`losetup --direct-io=on -b 4096` on the FUSE file; fio libaio direct=1",
    "nbdfuse": "`nbdkit -U SOCK file FILE cache=none fadvise=random` + "
               "`nbdfuse MNT/nbd nbd+unix:///?socket=SOCK` then `losetup "
               "--direct-io=on -b 4096` on MNT/nbd; server CPU = nbdfuse + nbdkit; "
               "fio libaio direct=1",
    "lloop-tls": "`lloop serve --listen tcp://127.0.0.1:PORT --tls require "
                 "--tls-certificates DIR FILE` (X.509, throwaway ECDSA CA and "
                 "server certificate); fio nbd engine, `nbds://127.0.0.1:PORT/`",
    "lloop-tcp": "`lloop serve --listen tcp://127.0.0.1:PORT FILE` (plaintext, "
                 "the same TCP path); fio nbd engine, `nbd://127.0.0.1:PORT/`",
    "nbdkit-tls": "`nbdkit -i 127.0.0.1 -p PORT --tls=require "
                  "--tls-certificates=DIR file FILE cache=none fadvise=random`; "
                  "fio nbd engine, `nbds://127.0.0.1:PORT/`",
    "lloop-rbd": "`lloop serve --listen unix:SOCK --ceph-conf CONF --ceph-id "
                 "lloop rbd:POOL/IMAGE` (librbd's asynchronous API, in the lloop "
                 "process: its CPU counts; `--threads 1` when pinned); fio nbd engine",
    "qemu-nbd-rbd": "`qemu-nbd -f raw --cache=none -t -e 8 -k SOCK "
                    "rbd:POOL/IMAGE:id=lloop:conf=CONF` (qemu's rbd driver, "
                    "librbd in the qemu-nbd process; cache=none turns librbd's "
                    "cache off); fio nbd engine",
}


def job_def(name):
    for j in JOBS:
        if j[0] == name:
            return j
    raise KeyError(name)


def is_4k(job):
    return job_def(job)[3] == "4k"


def unit_of(job):
    return "s/M I/O" if is_4k(job) else "s/GiB"


def parse_fio(path):
    """The figures of one fio JSON output (one job, group_reporting)."""
    with open(path) as f:
        text = f.read()
    # fio may print notes before the JSON
    text = text[text.index("{"):]
    d = json.loads(text)
    j = d["jobs"][0]
    if j.get("error"):
        raise ValueError("fio job error %s" % j["error"])
    side = j["read"] if j["read"]["total_ios"] >= j["write"]["total_ios"] else j["write"]
    pct = side["clat_ns"].get("percentile", {})
    ios = side["total_ios"]
    if ios == 0:
        raise ValueError("no I/O completed")
    return {
        "iops": side["iops"],
        "mbps": side["bw_bytes"] / 1e6,
        "p50_us": pct.get("50.000000", 0) / 1000.0,
        "p99_us": pct.get("99.000000", 0) / 1000.0,
        "mean_us": side["clat_ns"]["mean"] / 1000.0,
        "total_ios": ios,
        "io_bytes": side["io_bytes"],
        "runtime_s": side["runtime"] / 1000.0,
        "fio_usr_pct": j.get("usr_cpu"),
        "fio_sys_pct": j.get("sys_cpu"),
    }


def per_unit(job, cpu_s, r):
    if cpu_s is None:
        return None
    if is_4k(job):
        return cpu_s / (r["total_ios"] / 1e6)
    return cpu_s / (r["io_bytes"] / 2 ** 30)


def cmd_jobs(args):
    if "--all" in args:
        names = [j[0] for j in JOBS]
    elif "--quick" in args:
        names = QUICK_JOBS
    else:
        names = [j[0] for j in JOBS if j[0] not in EXTRA_JOBS]
    for j in JOBS:
        if j[0] in names:
            print("\t".join(str(x) for x in j))


def cmd_one(args):
    r = parse_fio(args[0])
    print("%.0f IOPS, %.1f MB/s, p50 %.0f us, p99 %.0f us"
          % (r["iops"], r["mbps"], r["p50_us"], r["p99_us"]))


def run_cmd(argv, line=0):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        out = (p.stdout or p.stderr).strip().splitlines()
        return out[line].strip() if len(out) > line else None
    except (OSError, subprocess.SubprocessError):
        return None


def machine():
    model = None
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    aes = False
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                aes = "aes" in line.split()
                break
    try:
        with open("/proc/sys/net/ipv4/tcp_available_ulp") as f:
            ktls = "tls" in f.read().split()
    except OSError:
        ktls = False
    mem = None
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    return {
        "cpu": model or platform.processor(),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "memory_bytes": mem,
        "memory": "%.1f GiB" % (mem / 2 ** 30) if mem else None,
        "aes_ni": aes,
        "ktls_ulp": ktls,
    }


def versions(lloop):
    v = {"lloop": run_cmd([lloop, "--version"])}
    if shutil.which("nbdinfo"):
        v["libnbd"] = run_cmd(["nbdinfo", "--version"], line=1)
    if shutil.which("certtool"):
        v["gnutls (certtool)"] = run_cmd(["certtool", "--version"])
    for name, argv in [
        ("fio", ["fio", "--version"]),
        ("nbdkit", ["nbdkit", "--version"]),
        ("qemu-nbd", ["qemu-nbd", "--version"]),
        ("qemu-storage-daemon", ["qemu-storage-daemon", "--version"]),
        ("nbdfuse", ["nbdfuse", "--version"]),
        ("losetup", ["losetup", "--version"]),
        ("gnuplot", ["gnuplot", "--version"]),
        ("ceph", ["ceph", "--version"]),
    ]:
        if shutil.which(argv[0]):
            v[name] = run_cmd(argv)
    return v


def read_tsv(path):
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                rows.append(line.split("\t"))
    return rows


def num(s):
    return None if s in ("", "-", None) else float(s)


def stats(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals),
            "max": max(vals), "n": len(vals)}


def fmt(x, digits=None):
    if x is None:
        return "-"
    if digits is None:
        if abs(x) >= 100:
            return "%.0f" % x
        if abs(x) >= 10:
            return "%.1f" % x
        return "%.2f" % x
    return "%.*f" % (digits, x)


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return "%.2f" % (a / b)


def cmd_final(args):
    work, outdir = args[0], args[1]
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(work, "config.json")) as f:
        config = json.load(f)
    tls_jobs = config.get("tls_jobs", [])
    rbd_jobs = config.get("rbd_jobs", [])
    jobs = config["jobs"] + [j for j in tls_jobs + rbd_jobs if j not in config["jobs"]]
    jobs = [j[0] for j in JOBS if j[0] in jobs]     # the table's order
    servers_wanted = config["servers"]

    # runs.tsv: round server job status fiojson srv_cpu_s fio_cpu_s
    # host_cpu_s wall_s note cluster_cpu_s (the last: the rbd rows only)
    runs = []
    for row in read_tsv(os.path.join(work, "runs.tsv")):
        (rnd, srv, job, status, fjson, srv_cpu, fio_cpu, host_cpu, wall, note,
         cluster_cpu) = (row + [""] * 11)[:11]
        run = {"round": int(rnd), "server": srv, "job": job, "ok": False,
               "note": note or None, "wall_s": num(wall)}
        if status == "ok":
            try:
                r = parse_fio(fjson)
                run.update(r)
                run["ok"] = True
            except (OSError, ValueError, KeyError) as e:
                run["error"] = "fio output: %s" % e
        else:
            run["error"] = status
        if run["ok"]:
            s = num(srv_cpu)
            c = num(fio_cpu)
            h = num(host_cpu)
            x = num(cluster_cpu)
            run["server_cpu_s"] = s
            run["fio_cpu_s"] = c
            run["host_cpu_s"] = h
            if x is not None:
                run["cluster_cpu_s"] = x
            other = None
            if h is not None and c is not None:
                other = max(0.0, h - c - (s or 0.0) - (x or 0.0))
            run["other_cpu_s"] = other
            run["cpu_unit"] = unit_of(job)
            run["server_cpu_per_unit"] = per_unit(job, s, run)
            run["cluster_cpu_per_unit"] = per_unit(job, x, run)
            run["fio_cpu_per_unit"] = per_unit(job, c, run)
            run["other_cpu_per_unit"] = per_unit(job, other, run)
            run["host_cpu_per_unit"] = per_unit(job, h, run)
            if run.get("fio_usr_pct") is not None:
                run["fio_cores"] = (run["fio_usr_pct"] + run["fio_sys_pct"]) / 100
        runs.append(run)

    skipped = [{"server": r[0], "reason": r[1] if len(r) > 1 else ""}
               for r in read_tsv(os.path.join(work, "skipped.tsv"))]
    notes = {}
    for r in read_tsv(os.path.join(work, "notes.tsv")):
        notes.setdefault(r[0], [])
        if len(r) > 1 and r[1] not in notes[r[0]]:
            notes[r[0]].append(r[1])

    figures = ["iops", "mbps", "p50_us", "p99_us", "server_cpu_per_unit",
               "fio_cpu_per_unit", "cluster_cpu_per_unit",
               "other_cpu_per_unit", "host_cpu_per_unit", "fio_cores"]
    summary = {}
    for job in jobs:
        summary[job] = {}
        for srv in servers_wanted:
            rs = [r for r in runs if r["job"] == job and r["server"] == srv]
            if not rs:
                continue
            ok = [r for r in rs if r["ok"]]
            entry = {"runs": len(rs), "ok": len(ok),
                     "errors": sorted({r.get("error") for r in rs if not r["ok"]})}
            for fig in figures:
                entry[fig] = stats([r.get(fig) for r in ok])
            summary[job][srv] = entry

    def med(job, srv, fig):
        e = summary.get(job, {}).get(srv)
        if not e or not e.get(fig):
            return None
        return e[fig]["median"]

    ratios = []
    for job in jobs:
        for mine, peers in RATIOS:
            if med(job, mine, "iops") is None:
                continue
            for peer in peers:
                if med(job, peer, "iops") is None:
                    continue
                a, b = med(job, mine, "server_cpu_per_unit"), med(job, peer, "server_cpu_per_unit")
                ha, hb = med(job, mine, "host_cpu_per_unit"), med(job, peer, "host_cpu_per_unit")
                target = TLS_TARGETS.get((mine, peer), {}).get(job)
                rt = RBD_TARGETS.get((mine, peer), {})
                if target is None:
                    target = rt.get("iops")
                cpu_target = rt.get("cpu")
                iops_ratio = med(job, mine, "iops") / med(job, peer, "iops")
                cpu_ratio = a / b if a is not None and b else None
                ratios.append({
                    "job": job, "lloop": mine, "peer": peer,
                    "iops_ratio": iops_ratio,
                    "server_cpu_ratio": cpu_ratio,
                    "host_cpu_ratio": ha / hb if ha is not None and hb else None,
                    "target": target,
                    "target_met": None if target is None else iops_ratio >= target,
                    "cpu_target": cpu_target,
                    "cpu_target_met": None if cpu_target is None or cpu_ratio is None
                    else cpu_ratio <= cpu_target,
                })

    mach = machine()
    vers = versions(config["lloop"])
    result = {
        "generated": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": config["command"],
        "wall_seconds": config.get("wall_seconds"),
        "config": {k: config[k] for k in config if k not in ("command", "wall_seconds")},
        "machine": mach,
        "versions": vers,
        "jobs": [dict(zip(["name", "family", "rw", "bs", "iodepth", "numjobs"], job_def(j)),
                      cpu_unit=unit_of(j)) for j in jobs],
        "servers": [{"name": s, "label": SERVER_LABEL[s], "kind": SERVER_KIND[s],
                     "setup": SERVER_SETUP[s], "notes": notes.get(s, [])}
                    for s in servers_wanted],
        "skipped": skipped,
        "runs": runs,
        "summary": summary,
        "ratios": ratios,
    }
    with open(os.path.join(outdir, "latest.json"), "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")

    (present, present_tls, present_rbd, families, tls_jobs_run, rbd_jobs_run,
     groups) = report_sets(servers_wanted, jobs, runs, summary)
    plots = make_plots(outdir, groups, summary)

    md = []
    w = md.append
    w("# lloop benchmark")
    w("")
    w("Generated %s by `%s`, wall time %s s." % (
        result["generated"], config["command"],
        "%.0f" % config["wall_seconds"] if config.get("wall_seconds") else "?"))
    w("")
    w("Backing file: %s, %s bytes, prefilled from /dev/urandom. %d round(s), "
      "servers alternating within each round; %s s per run (time_based)%s. "
      "Medians over rounds." % (
          config["backing"], config["size"], config["rounds"], config["runtime"],
          ", server pinned to CPU 1 and fio to CPU 0 (kernel workers are not pinned)"
          if config["pin"] else ", no pinning"))
    if config.get("load_before"):
        w("")
        w("Load average (1, 5, 15 min) before the run: %s; after: %s. The bench "
          "itself keeps about 2 runnable; more means something else ran too, "
          "and the figures are noisier." % (config["load_before"], config.get("load_after", "?")))
    w("")
    w("## Machine")
    w("")
    w("- CPU: %s, %s cores%s" % (mach["cpu"], mach["cores"],
                                 ", AES-NI" if mach.get("aes_ni") else ", no AES-NI"))
    w("- Kernel: %s" % mach["kernel"])
    w("- Memory: %s" % mach["memory"])
    w("")
    w("## Versions")
    w("")
    w("| program | version |")
    w("| --- | --- |")
    for k, v in vers.items():
        w("| %s | %s |" % (k, v or "?"))
    w("")
    w("## Servers")
    w("")
    for s in servers_wanted:
        line = "- **%s**: %s" % (SERVER_LABEL[s], SERVER_SETUP[s])
        if notes.get(s):
            line += ". Seen: " + "; ".join(notes[s])
        w(line)
    for sk in skipped:
        w("- skipped **%s**: %s" % (SERVER_LABEL.get(sk["server"], sk["server"]), sk["reason"]))
    w("")
    w("## How to read")
    w("")
    w("- IOPS and MB/s (10^6 bytes/s) as fio reports them; p50 and p99 are "
      "fio's completion latency (clat) in microseconds.")
    w("- **server CPU**: utime+stime of the server process(es) over the fio "
      "run (/proc/PID/stat), in CPU seconds per million I/Os for the 4k jobs "
      "and per GiB for the 1 and 4 MiB jobs. The kernel loop driver has "
      "no server process (\"-\"); with FUSE passthrough, lloop attach's "
      "I/O is done by the kernel too, not by the daemon.")
    w("- **kernel+other CPU**: all CPU time the machine spent over the run "
      "(/proc/stat) less fio's and the server's: kernel workers (loop, FUSE "
      "passthrough, softirq) and anything else running on the machine at "
      "the time. **all CPU** is the machine's total for the run, fio included.")
    w("- Ratios are lloop's median over the peer's: IOPS ratio > 1 means lloop "
      "is faster; a CPU ratio < 1 means lloop uses less CPU per I/O (or per GiB).")
    w("- The machine has %s cores: fio and the server compete for them, so "
      "the per-I/O CPU figures show the server better than the IOPS do." % mach["cores"])
    for fam in families:
        fjobs = [j for j in jobs if job_def(j)[1] == fam and
                 any(summary[j].get(s) for s in present)]
        unit = unit_of(fjobs[0])
        w("")
        w("## %s" % FAMILIES[fam])
        w("")
        w("| job | server | IOPS | MB/s | p50 us | p99 us | server CPU %s | "
          "kernel+other CPU %s | all CPU %s | rounds ok |" % (unit, unit, unit))
        w("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for job in fjobs:
            job_rows(w, job, present, summary)
        fr = [r for r in ratios if r["job"] in fjobs
              and SERVER_KIND[r["lloop"]] not in OWN_SECTION]
        if fr:
            w("")
            w("| job | lloop | peer | IOPS ratio | server CPU ratio | all CPU ratio |")
            w("| --- | --- | --- | ---: | ---: | ---: |")
            for r in fr:
                w("| %s | %s | %s | %s | %s | %s |" % (
                    JOB_LABEL[r["job"]], SERVER_LABEL[r["lloop"]], SERVER_LABEL[r["peer"]],
                    fmt(r["iops_ratio"], 2),
                    fmt(r["server_cpu_ratio"], 2), fmt(r["host_cpu_ratio"], 2)))
        if fam in plots:
            w("")
            w("![%s](%s)" % (FAMILIES[fam], os.path.basename(plots[fam])))
    if tls_jobs_run:
        tls_section(w, config, mach, tls_jobs_run, present_tls, summary, ratios,
                    plots.get("tls"))
    if rbd_jobs_run:
        rbd_section(w, config, rbd_jobs_run, present_rbd, summary, ratios,
                    plots.get("rbd"))
    errs = [r for r in runs if not r["ok"]]
    if errs:
        w("")
        w("## Failed runs")
        w("")
        for r in errs:
            w("- round %d, %s, %s: %s" % (r["round"], SERVER_LABEL.get(r["server"], r["server"]),
                                          JOB_LABEL.get(r["job"], r["job"]), r.get("error")))
    w("")
    with open(os.path.join(outdir, "latest.md"), "w") as f:
        f.write("\n".join(md))
    print("bench: wrote %s and %s" % (os.path.join(outdir, "latest.md"),
                                      os.path.join(outdir, "latest.json")))
    if plots:
        print("bench: plots %s" % " ".join(sorted(plots.values())))


def job_rows(w, job, servers, summary, cluster=False):
    """The table rows of one job, a row per server that ran it; with
    cluster, a column for the Ceph daemons' CPU after the server's."""
    for srv in servers:
        e = summary[job].get(srv)
        if not e:
            continue
        if not e["ok"]:
            cols = [JOB_LABEL[job], SERVER_LABEL[srv],
                    "error: " + "; ".join(x for x in e["errors"] if x)]
            cols += [""] * (7 if cluster else 6) + ["0/%d" % e["runs"]]
            w("| " + " | ".join(cols) + " |")
            continue
        m = lambda fig: e[fig]["median"] if e.get(fig) else None
        cols = [JOB_LABEL[job], SERVER_LABEL[srv],
                fmt(m("iops"), 0), fmt(m("mbps"), 1),
                fmt(m("p50_us"), 0), fmt(m("p99_us"), 0),
                fmt(m("server_cpu_per_unit"))]
        if cluster:
            cols.append(fmt(m("cluster_cpu_per_unit")))
        cols += [fmt(m("other_cpu_per_unit")), fmt(m("host_cpu_per_unit")),
                 "%d/%d" % (e["ok"], e["runs"])]
        w("| " + " | ".join(cols) + " |")


def tls_section(w, config, mach, jobs, servers, summary, ratios, plot):
    """The TLS rows: their own table, the ratios issue 8 names, targets."""
    w("")
    w("## NBD over TLS (TCP 127.0.0.1)")
    w("")
    w("lloop serve with `--tls require`, the same lloop in plaintext on the "
      "same TCP path, and nbdkit with `--tls=require`, all on 127.0.0.1 and "
      "driven by fio's nbd engine (libnbd), %s s per run, alternating with the "
      "other servers in each round. fio finds the throwaway CA through "
      "libnbd's default certificate directory (`$HOME/.pki/libnbd`, fio run "
      "with HOME in the work directory and, as root, in a user namespace), "
      "since libnbd refuses `tls-certificates` in fio's URI. The cipher each "
      "server negotiated is in the Servers list above. AES-NI: %s; kernel TLS "
      "(the `tls` TCP ULP): %s, and neither server uses it: records are "
      "sealed and opened in user space by GnuTLS." % (
          config.get("tls_runtime", config["runtime"]),
          "yes" if mach.get("aes_ni") else "no",
          "registered" if mach.get("ktls_ulp") else "not registered"))
    w("")
    w("| job | server | IOPS | MB/s | p50 us | p99 us | server CPU | "
      "kernel+other CPU | all CPU | rounds ok |")
    w("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for job in jobs:
        job_rows(w, job, servers, summary)
    w("")
    w("CPU columns: seconds per GiB for the 1 MiB jobs, per million I/Os "
      "for the 4k job.")
    # fio's nbd engine runs a job on one thread, TLS included: near 1.0
    # the client, not the server, sets the pace
    cores = []
    for job in jobs:
        got = ["%s %s" % (SERVER_LABEL[srv],
                          fmt(summary[job][srv]["fio_cores"]["median"], 2))
               for srv in servers
               if summary[job].get(srv, {}).get("fio_cores")]
        if got:
            cores.append("%s: %s" % (JOB_LABEL[job], ", ".join(got)))
    if cores:
        w("")
        w("fio's own CPU, in cores (its usr+sys over the run; the nbd engine "
          "runs a job on one thread, TLS included, so near 1.0 the client "
          "sets the pace, not the server): " + "; ".join(cores) + ".")
    fr = [r for r in ratios if r["job"] in jobs and r["lloop"] == "lloop-tls"]
    if fr:
        w("")
        w("| job | ratio | throughput ratio | target | met | server CPU ratio "
          "| all CPU ratio |")
        w("| --- | --- | ---: | ---: | --- | ---: | ---: |")
        for r in fr:
            w("| %s | %s / %s | %s | %s | %s | %s | %s |" % (
                JOB_LABEL[r["job"]], SERVER_LABEL[r["lloop"]], SERVER_LABEL[r["peer"]],
                fmt(r["iops_ratio"], 2),
                ">= %.1f" % r["target"] if r.get("target") is not None else "-",
                {True: "yes", False: "**no**", None: "-"}[r.get("target_met")],
                fmt(r["server_cpu_ratio"], 2), fmt(r["host_cpu_ratio"], 2)))
    if plot:
        w("")
        w("![NBD over TLS](%s)" % os.path.basename(plot))


def rbd_section(w, config, jobs, servers, summary, ratios, plot):
    """The rbd: rows: their own table, the ratios and targets of issue 10."""
    rc = config.get("rbd", {})
    w("")
    w("## Ceph RBD (lloop rbd: against qemu-nbd's rbd driver)")
    w("")
    w("Both servers serve one image of a throwaway one-node Ceph cluster "
      "(tests/lib/ceph.sh: one ceph-mon, one ceph-osd on memstore, pool size "
      "1, 127.0.0.1, cephx) as client.lloop, over a Unix socket, driven by "
      "fio's nbd engine, %s s per run, alternating in each round. %s "
      "Both servers run librbd inside their own process, so its threads are "
      "in their **server CPU**; **cluster CPU** is the ceph-osd's and "
      "ceph-mon's (utime+stime), and **kernel+other** is what is left of "
      "the machine's busy time after fio, the server and the cluster. On "
      "a 2-core machine the cluster takes much of the CPU and sets the "
      "pace. qemu-nbd answers a read from a client that asked for "
      "structured replies (libnbd, so fio, does) with a sparse read: it "
      "asks the image for its holes first, which for an image with "
      "fast-diff (rbd's default features) is librbd's diff over the object "
      "map, once per read; lloop sends the data as it is." % (
          config.get("rbd_runtime", config["runtime"]),
          rc.get("setup", "")))
    w("")
    w("| job | server | IOPS | MB/s | p50 us | p99 us | server CPU | "
      "cluster CPU | kernel+other CPU | all CPU | rounds ok |")
    w("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for job in jobs:
        job_rows(w, job, servers, summary, cluster=True)
    w("")
    w("CPU columns: seconds per million I/Os for the 4k jobs, per GiB for "
      "the 4 MiB jobs.")
    fr = [r for r in ratios if r["job"] in jobs and r["lloop"] == "lloop-rbd"]
    if fr:
        yn = {True: "yes", False: "**no**", None: "-"}
        w("")
        w("| job | ratio | IOPS ratio | target | met | server CPU ratio | "
          "target | met | all CPU ratio |")
        w("| --- | --- | ---: | ---: | --- | ---: | ---: | --- | ---: |")
        for r in fr:
            w("| %s | %s / %s | %s | %s | %s | %s | %s | %s | %s |" % (
                JOB_LABEL[r["job"]], SERVER_LABEL[r["lloop"]], SERVER_LABEL[r["peer"]],
                fmt(r["iops_ratio"], 2),
                ">= %.1f" % r["target"] if r.get("target") is not None else "-",
                yn[r.get("target_met")],
                fmt(r["server_cpu_ratio"], 2),
                "<= %.1f" % r["cpu_target"] if r.get("cpu_target") is not None else "-",
                yn[r.get("cpu_target_met")],
                fmt(r["host_cpu_ratio"], 2)))
    if plot:
        w("")
        w("![Ceph RBD](%s)" % os.path.basename(plot))


def report_sets(servers_wanted, jobs, runs, summary):
    """Which servers ran (all; the job-family ones; TLS; RBD), the job
    families with results, the TLS and RBD jobs that ran, and the plots to
    make: a group per job family with the servers that ran it, then the TLS
    rows and the RBD rows, each in a group of its own."""
    present_all = [s for s in servers_wanted
                   if any(r["server"] == s for r in runs)]
    present = [s for s in present_all if SERVER_KIND[s] not in OWN_SECTION]
    present_tls = [s for s in present_all if SERVER_KIND[s] == "tls"]
    present_rbd = [s for s in present_all if SERVER_KIND[s] == "rbd"]
    families = [fam for fam in FAMILIES
                if any(job_def(j)[1] == fam and summary[j].get(s)
                       for j in jobs for s in present)]
    groups = [(fam, FAMILIES[fam], [j for j in jobs if job_def(j)[1] == fam],
               present) for fam in families]
    tls_jobs_run = [j for j in jobs if any(summary[j].get(s) for s in present_tls)]
    if tls_jobs_run:
        groups.append(("tls", "NBD over TLS, TCP 127.0.0.1", tls_jobs_run,
                       present_tls))
    rbd_jobs_run = [j for j in jobs if any(summary[j].get(s) for s in present_rbd)]
    if rbd_jobs_run:
        groups.append(("rbd", "Ceph RBD, one-node memstore cluster", rbd_jobs_run,
                       present_rbd))
    return (present, present_tls, present_rbd, families, tls_jobs_run,
            rbd_jobs_run, groups)


def cmd_plots(args):
    """Draw the plots again from OUTDIR's latest.json (say, after gnuplot
    was installed), without running anything."""
    outdir = args[0]
    with open(os.path.join(outdir, "latest.json")) as f:
        result = json.load(f)
    summary = result["summary"]
    jobs = [j["name"] for j in result["jobs"]]
    servers = [s["name"] for s in result["servers"]]
    groups = report_sets(servers, jobs, result["runs"], summary)[-1]
    for fam, png in make_plots(outdir, groups, summary).items():
        print("bench: wrote %s" % png)


def make_plots(outdir, groups, summary):
    """One PNG per group (a job family, or the TLS rows): a panel per job, a
    bar per server (median, error bar from min to max over rounds); top row
    throughput, bottom row server CPU per I/O (or per GiB)."""
    plots = {}
    if not shutil.which("gnuplot"):
        print("bench: skip plots: gnuplot is not installed (package gnuplot-nox)")
        return plots
    datadir = os.path.join(outdir, ".plotdata")
    os.makedirs(datadir, exist_ok=True)
    for fam, title, fjobs, servers in groups:
        if not any(summary[j] for j in fjobs):
            continue
        png = os.path.join(outdir, "%s.png" % fam)
        script = [
            "set terminal pngcairo noenhanced size %d,820 font ',9'" % max(560, 400 * len(fjobs)),
            "set output '%s'" % png,
            "set multiplot layout 2,%d title '%s (median, bars min..max over rounds)'"
            % (len(fjobs), title),
            "set style fill solid 0.85 border -1",
            "set xtics rotate by 40 right nomirror",
            "set grid ytics",
            "set yrange [0:*]",
            "set bmargin 8",
            "set lmargin 12",
            "unset key",
        ]

        def datafile(job, fig):
            data = os.path.join(datadir, "%s-%s.dat" % (job, fig))
            with open(data, "w") as f:
                for i, srv in enumerate(servers):
                    st = (summary[job].get(srv) or {}).get(fig)
                    vals = (st["median"], st["min"], st["max"]) if st else ("NaN",) * 3
                    f.write('%d "%s" %s %s %s\n' % ((i, PLOT_LABEL.get(srv, srv)) + tuple(vals)))
            return data

        n = len(servers)
        for job in fjobs:
            tput, tput_label = ("iops", "IOPS") if is_4k(job) else ("mbps", "MB/s")
            data = datafile(job, tput)
            script += [
                "set title '%s'" % JOB_LABEL[job],
                "set ylabel '%s'" % tput_label,
                "set xrange [-0.6:%g]" % (n - 0.4),
                "plot '%s' using 1:3:(0.7):($1+1):xtic(2) with boxes lc variable, "
                "'' using 1:3:4:5 with yerrorbars lc rgb 'black' pt 7 ps 0.3" % data,
            ]
        for job in fjobs:
            unit = unit_of(job)
            srvd = datafile(job, "server_cpu_per_unit")
            alld = datafile(job, "host_cpu_per_unit")
            script += [
                "set title 'server CPU (colour), all CPU (grey)'",
                "set ylabel 'CPU %s'" % unit,
                "set xrange [-0.6:%g]" % (n - 0.4),
                "plot '%s' using 1:3:(0.8):xtic(2) with boxes lc rgb '#d0d0d0', "
                "'' using 1:3:4:5 with yerrorbars lc rgb '#808080' pt 7 ps 0.3, "
                "'%s' using 1:3:(0.5):($1+1) with boxes lc variable, "
                "'' using 1:3:4:5 with yerrorbars lc rgb 'black' pt 7 ps 0.3" % (alld, srvd),
            ]
        script.append("unset multiplot")
        gp = os.path.join(datadir, "%s.gp" % fam)
        with open(gp, "w") as f:
            f.write("\n".join(script) + "\n")
        p = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
        if p.returncode == 0 and os.path.exists(png):
            plots[fam] = png
        else:
            print("bench: gnuplot failed for %s: %s" % (fam, p.stderr.strip()[:500]))
    shutil.rmtree(datadir, ignore_errors=True)
    return plots


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "jobs":
        cmd_jobs(args)
    elif cmd == "one":
        cmd_one(args)
    elif cmd == "final":
        cmd_final(args)
    elif cmd == "plots":
        cmd_plots(args)
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
