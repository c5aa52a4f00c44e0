"""A session of the `qemu.qmp` client (QEMU's own Python QMP library,
not written here) against `qomgen -qmp unix:SOCK`: connect and negotiate,
introspect, pass a descriptor with SCM_RIGHTS and use it by name, try a hotplug
the host refuses, and reconnect. Exits non-zero on any mismatch."""

import asyncio
import os
import sys

from qemu.qmp import ExecuteError, QMPClient


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


async def expect_error(qmp, cmd, args, cls, desc):
    try:
        await qmp.execute(cmd, args)
    except ExecuteError as e:
        check(e.error_class == cls and e.error.error.desc == desc,
              f"{cmd} fails with {cls}: {desc} (got {e.error_class}: {e.error.error.desc})")
        return
    check(False, f"{cmd} should fail")


async def main(sock, iommu_path):
    qmp = QMPClient("qomgen")
    await qmp.connect(sock)  # greeting and qmp_capabilities
    greeting = qmp.greeting
    check(greeting.QMP.version["package"].startswith("qomgen"), "greeting names qomgen")
    check(greeting.QMP.version["qemu"]["major"] == 10, "greeting carries QEMU's version")

    ver = await qmp.execute("query-version")
    check(ver["qemu"]["minor"] == 2, "query-version")
    cmds = {c["name"] for c in await qmp.execute("query-commands")}
    for c in ["device_add", "device_del", "object-add", "getfd", "x-query-host-readiness"]:
        check(c in cmds, f"query-commands lists {c}")

    # libvirt's question: does object-add know iommufd, with an fd member?
    schema = {e["name"]: e for e in await qmp.execute("query-qmp-schema")}
    opts = schema[schema["object-add"]["arg-type"]]
    tag = next(m for m in opts["members"] if m["name"] == opts["tag"])
    check("iommufd" in schema[tag["type"]]["values"], "ObjectType has iommufd")
    branch = next(v for v in opts["variants"] if v["case"] == "iommufd")
    check(schema[branch["type"]]["members"] == [{"name": "fd", "default": None, "type": "str"}],
          "object-add's iommufd branch is {'*fd': 'str'}")

    props = {p["name"]: p for p in await qmp.execute("device-list-properties", {"typename": "vfio-pci"})}
    check(props["iommufd"]["type"] == "link<iommufd>", "vfio-pci has iommufd=link<iommufd>")
    check(props["x-vga"] == {"name": "x-vga", "type": "bool",
                             "description": "Expose VGA address spaces for device",
                             "default-value": False}, "x-vga as QEMU shows it")
    ready = await qmp.execute("x-query-host-readiness")
    check({t["name"] for t in ready["types"]} >= {"iommufd", "vfio-pci"}, "readiness per type")

    await expect_error(qmp, "no-such-command", None, "CommandNotFound",
                       "The command no-such-command has not been found")
    await expect_error(qmp, "device_del", {"id": "nope"}, "DeviceNotFound", "Device 'nope' not found")
    await expect_error(qmp, "object-add", {"qom-type": "iommufd", "id": "io0", "fd": "nope"},
                       "GenericError",
                       "Could not parse remote object fd nope:File descriptor named 'nope' has not been found")

    # SCM_RIGHTS: getfd, then the name in object-add (taken over: gone after).
    with open(iommu_path, "rb") as f:
        qmp.send_fd_scm(f.fileno())
        await qmp.execute("getfd", {"fdname": "iommu0"})
    await qmp.execute("object-add", {"qom-type": "iommufd", "id": "io0", "fd": "iommu0"})
    await expect_error(qmp, "closefd", {"fdname": "iommu0"}, "GenericError",
                       "File descriptor named 'iommu0' not found")
    check(await qmp.execute("qom-get", {"path": "/objects/io0", "property": "type"}) == "iommufd",
          "qom-get /objects/io0 type")

    # Hotplug reaches the host: this one fails on a missing object, with
    # QEMU's class; realize cycles run in the real-kernel guest (qmp_kernel.rs).
    await expect_error(qmp, "device_add", {"driver": "vfio-pci", "id": "vfio0", "iommufd": "io1"},
                       "DeviceNotFound", "Device 'io1' not found")
    await qmp.execute("object-del", {"id": "io0"})
    await qmp.disconnect()

    # A new client: fresh greeting and negotiation.
    qmp = QMPClient("qomgen-2")
    await qmp.connect(sock)
    objs = await qmp.execute("qom-list", {"path": "/objects"})
    check(objs == [{"name": "type", "type": "string"}], "io0 is gone")
    with qmp.listener("SHUTDOWN") as listener:
        await qmp.execute("quit")
        ev = await asyncio.wait_for(listener.get(), 5)
        check(ev["data"]["reason"] == "host-qmp-quit", "SHUTDOWN on quit")
    try:
        await qmp.disconnect()
    except EOFError:
        # The server closed the stream after quit, as QEMU does (QEMU's
        # machine.py expects the same EOFError after a quit).
        pass


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
