# SPDX-License-Identifier: GPL-2.0
"""contrib/semi-net-qmp maps QEMU's migration events to the semi-netctl
steps (README "With libvirt and QEMU"): fed recorded events, it prints the
commands it would run."""
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
QMP = os.path.join(os.path.dirname(os.path.dirname(HERE)), "contrib", "semi-net-qmp")
COMMON = ["--domain", "guest1", "--port", "vm1", "--source", "hostA", "--destination", "hostB"]


def run(tmp_path, role, events, *more):
    f = tmp_path / "events"
    f.write_text("".join(f"event {name} at 1764110000.{i:06d} for domain 'guest1': {data}\n"
                         for i, (name, data) in enumerate(events)))
    p = subprocess.run([QMP, "-n", "--role", role, *COMMON, *more, "--events", str(f)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout.splitlines()


def test_source_steps(tmp_path):
    assert run(tmp_path, "source", [
        ("MIGRATION", '{"status":"setup"}'),
        ("UNPLUG_PRIMARY", '{"device-id":"hostdev0"}'),
        ("MIGRATION", '{"status":"wait-unplug"}'),
        ("STOP", "<null>"),
        ("MIGRATION", '{"status":"completed"}'),
        ("STOP", "<null>"),                  # after the end: not read
    ]) == ["semi-netctl migrate out vm1 --begin", "semi-netctl migrate out vm1 --to hostB"]


def test_source_wait_unplug_over(tmp_path):
    """QEMU 7.2 keeps a failover primary (for a failed migration): no
    DEVICE_DELETED; the migration leaving wait-unplug says the guest let it go."""
    assert run(tmp_path, "source", [
        ("MIGRATION", '{"status":"setup"}'),
        ("UNPLUG_PRIMARY", '{"device-id":"pri0"}'),
        ("MIGRATION", '{"status":"wait-unplug"}'),
        ("MIGRATION", '{"status":"active"}'),
        ("DEVICE_DELETED", '{"device":"pri0","path":"/machine/peripheral/pri0"}'),
        ("STOP", "<null>"),
        ("MIGRATION", '{"status":"completed"}'),
    ]) == ["semi-netctl migrate out vm1 --begin", "semi-netctl migrate out vm1 --unplugged",
           "semi-netctl migrate out vm1 --to hostB"]


def test_source_unplugged(tmp_path):
    """DEVICE_DELETED of the primary (UNPLUG_PRIMARY's device-id): the guest let
    its VF go -- a hold ends.  Its parts' events (no device id) and other
    devices' are not it."""
    assert run(tmp_path, "source", [
        ("UNPLUG_PRIMARY", '{"device-id":"hostdev0"}'),
        ("DEVICE_DELETED", '{"path":"/machine/peripheral/hostdev0/virtio-backend"}'),
        ("DEVICE_DELETED", '{"device":"net9","path":"/machine/peripheral/net9"}'),
        ("DEVICE_DELETED", '{"device":"hostdev0","path":"/machine/peripheral/hostdev0"}'),
        ("DEVICE_DELETED", '{"device":"hostdev0","path":"/machine/peripheral/hostdev0"}'),
        ("STOP", "<null>"),
        ("MIGRATION", '{"status":"completed"}'),
    ]) == ["semi-netctl migrate out vm1 --begin", "semi-netctl migrate out vm1 --unplugged",
           "semi-netctl migrate out vm1 --to hostB"]
    # --primary names it when UNPLUG_PRIMARY was missed.
    assert run(tmp_path, "source", [
        ("MIGRATION", '{"status":"wait-unplug"}'),
        ("DEVICE_DELETED", '{"device":"hostdev0","path":"/machine/peripheral/hostdev0"}'),
    ], "--primary", "hostdev0") == ["semi-netctl migrate out vm1 --begin",
                                    "semi-netctl migrate out vm1 --unplugged"]


def test_destination_steps(tmp_path):
    assert run(tmp_path, "destination", [
        ("RESUME", "<null>"),
        ("DEVICE_ADDED", '{"device":"net9"}'),           # not the primary
        ("DEVICE_ADDED", '{"device":"hostdev0"}'),
    ], "--mac", "52:54:00:5e:00:01", "--tap", "tap-vm1", "--vf", "vf-vm1",
        "--primary", "hostdev0") == [
        "semi-netctl migrate in vm1 --mac 52:54:00:5e:00:01 --tap tap-vm1 --from hostA",
        "semi-netctl migrate done vm1", "semi-netctl port set vm1 --vf vf-vm1"]


def test_failure_aborts(tmp_path):
    assert run(tmp_path, "source", [
        ("UNPLUG_PRIMARY", "{}"), ("MIGRATION", '{"status":"failed"}'),
    ]) == ["semi-netctl migrate out vm1 --begin", "semi-netctl migrate abort vm1"]
