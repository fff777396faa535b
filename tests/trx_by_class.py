#!/usr/bin/env python3
"""Ranks a TRX's tests by class (tests/README.md, "Where the time goes").

    dotnet test --logger "trx;LogFileName=/tmp/run.trx"   then   python3 tests/trx_by_class.py /tmp/run.trx [rows]

The suite runs serially (xunit.runner.json: parallelizeTestCollections false), so each test is also charged the wall-clock
gap before it (a collection or class fixture starting: silos, redis, azurite; the previous fixture's teardown):
'wall' = durations + those gaps, which is what removing the class would save."""
import sys, collections, datetime, xml.etree.ElementTree as ET
ns = {'t': 'http://microsoft.com/schemas/VisualStudio/TeamTest/2010'}
root = ET.parse(sys.argv[1]).getroot()
def secs(d):
    h, m, s = d.split(':'); return int(h) * 3600 + int(m) * 60 + float(s)
def when(s):
    return datetime.datetime.fromisoformat(s[:26] + s[-6:] if len(s) > 32 else s)
cls_of = {ut.get('id'): ut.find('t:TestMethod', ns).get('className') for ut in root.iterfind('.//t:UnitTest', ns)}
results = []
for r in root.iterfind('.//t:UnitTestResult', ns):
    results.append((when(r.get('startTime')), when(r.get('endTime')), secs(r.get('duration', '0:0:0')),
                    cls_of[r.get('testId')].replace('QstOrleans.Tests.', ''), r.get('testName').split('.')[-1], r.get('outcome')))
results.sort()
stat = collections.defaultdict(lambda: [0.0, 0.0, 0, (0, '')])
prev_end = None
for start, end, d, cls, name, outcome in results:
    gap = max(0.0, (start - prev_end).total_seconds()) if prev_end else 0.0
    s = stat[cls]; s[0] += d; s[1] += d + gap; s[2] += 1; s[3] = max(s[3], (d, name))
    prev_end = max(prev_end, end) if prev_end else end
wall = (results[-1][1] - results[0][0]).total_seconds()
outcomes = collections.Counter(r[5] for r in results)
print(f"# {len(results)} results {dict(outcomes)}; first start..last end {wall:.0f} s; sum of durations {sum(r[2] for r in results):.0f} s")
n = int(sys.argv[2]) if len(sys.argv) > 2 else 40
cum = 0
print("   wall s   cum%   tests  durations  class  (slowest test)")
for cls, (d, w, c, top) in sorted(stat.items(), key=lambda kv: -kv[1][1])[:n]:
    cum += w
    print(f"{w:8.1f} {100*cum/wall:6.1f}% {c:4d} {d:9.1f}  {cls}  ({top[1][:70]} {top[0]:.1f} s)")
