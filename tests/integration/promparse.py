#!/usr/bin/python3
"""promparse: read a Prometheus text exposition (format 0.0.4) strictly.

  promparse.py FILE            check the whole file; exit 1 naming the
                               first bad line
  promparse.py FILE SELECTOR   print one value:
      name                     the series without labels
      name{k="v",...}          the series with exactly these labels
      name{label}              the value of `label' of the family's
                               only series
      name{}                   the sum of every series of the family

Checks: every line is a HELP, a TYPE or a sample; a family's TYPE comes
before its samples and its samples are contiguous; names and label names
are valid; label values are properly escaped; values are numbers;
counters end in _total and are never negative; no series twice;
a histogram's samples are NAME_bucket (with le, cumulative: never
decreasing, ending at le="+Inf"), NAME_sum and NAME_count, and +Inf
equals the count.  Selectors name histogram samples in full
(name_count{device="plc-1"}).
"""
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"^(%s)(?:\{((?:%s=%s)(?:,%s=%s)*)?\})? (\S+)$" % (NAME, LABEL, VALUE, LABEL, VALUE))
PAIR = re.compile(r"(%s)=(%s)" % (LABEL, VALUE))


def unescape(v):
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v[1:-1])


def parse(path):
    types, order, series = {}, [], {}
    current = None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            where = "%s:%d: " % (path, n)
            if line.startswith("# HELP "):
                if not re.match(r"^# HELP %s .*$" % NAME, line):
                    raise ValueError(where + "bad HELP line")
                continue
            if line.startswith("# TYPE "):
                m = re.match(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % NAME, line)
                if not m or m.group(1) in types:
                    raise ValueError(where + "bad or repeated TYPE line")
                types[m.group(1)] = m.group(2)
                current = m.group(1)
                continue
            if line.startswith("#"):
                continue
            m = SAMPLE.match(line)
            if not m:
                raise ValueError(where + "not a sample: " + line)
            name, labels, value = m.group(1), m.group(2) or "", m.group(3)
            base = name
            if current is not None and types[current] == "histogram":
                for suffix in ("_bucket", "_sum", "_count"):
                    if name == current + suffix:
                        base = current
            if base != current or (types[current] == "histogram" and name == current):
                raise ValueError(where + "sample of %s outside its TYPE block" % name)
            try:
                v = float(value)
            except ValueError:
                raise ValueError(where + "value is not a number")
            if types[base] == "counter" and (v < 0 or not name.endswith("_total")):
                raise ValueError(where + "counter negative or not named *_total")
            key = (name, tuple(sorted((k, unescape(x)) for k, x in PAIR.findall(labels))))
            if key in series:
                raise ValueError(where + "series repeated")
            series[key] = v
            order.append(key)
    check_histograms(types, series)
    return series


def check_histograms(types, series):
    """Buckets cumulative up to le="+Inf", which equals _count."""
    for fam, t in types.items():
        if t != "histogram":
            continue
        groups = {}
        for (name, labels), v in series.items():
            if name == fam + "_bucket":
                rest = tuple(p for p in labels if p[0] != "le")
                le = dict(labels).get("le")
                if le is None:
                    raise ValueError("%s: a bucket without le" % fam)
                groups.setdefault(rest, []).append((float(le), v))
        for rest, buckets in groups.items():
            buckets.sort()
            counts = [v for _, v in buckets]
            if counts != sorted(counts) or buckets[-1][0] != float("inf"):
                raise ValueError("%s%s: buckets not cumulative or no +Inf" % (fam, dict(rest)))
            if series.get((fam + "_count", rest)) != buckets[-1][1] or (fam + "_sum", rest) not in series:
                raise ValueError("%s%s: +Inf bucket differs from _count, or no _sum" % (fam, dict(rest)))


def fmt(v):
    return str(int(v)) if v == int(v) else repr(v)


def main():
    try:
        series = parse(sys.argv[1])
    except (ValueError, OSError) as e:
        print(e, file=sys.stderr)
        return 1
    if len(sys.argv) < 3:
        return 0
    sel = sys.argv[2]
    m = re.match(r"^(%s)(?:\{(.*)\})?$" % NAME, sel)
    if not m:
        print("bad selector", file=sys.stderr)
        return 2
    name, inner = m.group(1), m.group(2)
    fam = {k: v for k, v in series.items() if k[0] == name}
    if inner is None or inner != "" and "=" in inner:
        want = tuple(sorted((k, unescape(x)) for k, x in PAIR.findall(inner or "")))
        if (name, want) not in series:
            print("no series %s" % sel, file=sys.stderr)
            return 1
        print(fmt(series[(name, want)]))
    elif inner == "":
        if not fam:
            print("no family %s" % name, file=sys.stderr)
            return 1
        print(fmt(sum(fam.values())))
    else:
        if len(fam) != 1:
            print("%d series of %s" % (len(fam), name), file=sys.stderr)
            return 1
        print(dict(next(iter(fam))[1]).get(inner, ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
