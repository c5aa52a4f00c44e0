#!/usr/bin/env python3
"""One QMP session over stdio, for profiling the server's request path:
greeting, qmp_capabilities, then N device-list-properties vfio-pci
requests, each sent when the previous reply arrived (as benches/qmp.rs
does). Prints the last reply's length.

    benches/scripts/qmp-session.py N COMMAND...
    benches/scripts/qmp-session.py 500 valgrind --tool=callgrind \\
        --callgrind-out-file=cg.500 target/release/qomgen -qmp stdio

Instructions per request: (total of N=510 - total of N=10) / 500
(`callgrind_annotate FILE | grep TOTALS`).
"""
import subprocess
import sys

n = int(sys.argv[1])
p = subprocess.Popen(sys.argv[2:], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
p.stdout.readline()
p.stdin.write(b'{"execute": "qmp_capabilities"}\n')
p.stdin.flush()
p.stdout.readline()
req = b'{"execute": "device-list-properties", "arguments": {"typename": "vfio-pci"}}\n'
line = b""
for _ in range(n):
    p.stdin.write(req)
    p.stdin.flush()
    line = p.stdout.readline()
p.stdin.close()
p.wait()
print(len(line))
