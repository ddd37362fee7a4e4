import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { matchCgroupPath, parseProcCgroup } from './cgroup.js';

const ID = 'eaca6a265b823cd0f2f10efb53010f9d282c926f43d309b7b656e9ed419de412';

describe('cgroup path -> container id', () => {
  it('podman with cgroupfs, hybrid v1/v2 (as podman+runc write it on the dev host)', () => {
    const text = [
      `9:name=systemd:/libpod_parent/libpod-${ID}`,
      `8:pids:/libpod_parent/libpod-${ID}`,
      `4:memory:/libpod_parent/libpod-${ID}`,
      `0::/libpod_parent/libpod-${ID}`,
      '',
    ].join('\n');
    assert.deepEqual(parseProcCgroup(text), {
      id: ID,
      runtime: 'podman',
      podUid: '',
      path: `/libpod_parent/libpod-${ID}`,
    });
  });

  it('host processes and runtime helpers are not containers', () => {
    assert.equal(parseProcCgroup('0::/\n'), null);
    assert.equal(
      parseProcCgroup('4:memory:/process_api/6dcf7426c6471568588a12cb6a8d5a49\n0::/\n'),
      null,
    );
    assert.equal(parseProcCgroup('8:pids:/libpod_parent/conmon\n0::/libpod_parent/conmon\n'), null);
    assert.equal(matchCgroupPath(`/machine.slice/libpod-conmon-${ID}.scope`), null);
    assert.equal(matchCgroupPath(`/kubepods.slice/crio-conmon-${ID}.scope`), null);
  });

  it('podman with systemd', () => {
    assert.equal(matchCgroupPath(`/machine.slice/libpod-${ID}.scope/container`)?.runtime, 'podman');
    assert.equal(matchCgroupPath(`/machine.slice/libpod-${ID}.scope/container`)?.id, ID);
  });

  it('containerd CRI with the systemd driver, pod uid from the slice', () => {
    const m = matchCgroupPath(
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1b2c3d4e_0000_4111_8222_333344445555.slice/cri-containerd-${ID}.scope`,
    );
    assert.equal(m?.runtime, 'containerd');
    assert.equal(m?.id, ID);
    assert.equal(m?.podUid, '1b2c3d4e-0000-4111-8222-333344445555');
  });

  it('CRI with the cgroupfs driver: runtime unknown until metadata, pod uid from the path', () => {
    const m = matchCgroupPath(`/kubepods/besteffort/pod1b2c3d4e-0000-4111-8222-333344445555/${ID}`);
    assert.equal(m?.runtime, 'unknown');
    assert.equal(m?.podUid, '1b2c3d4e-0000-4111-8222-333344445555');
  });

  it('a cgroup namespace prefix does not hide the id', () => {
    assert.equal(parseProcCgroup(`0::/../../kubepods/burstable/podx/${ID}\n`)?.id, ID);
  });

  it('docker and cri-o', () => {
    assert.equal(matchCgroupPath(`/docker/${ID}`)?.runtime, 'docker');
    assert.equal(matchCgroupPath(`/system.slice/docker-${ID}.scope`)?.runtime, 'docker');
    assert.equal(matchCgroupPath(`/kubepods.slice/x.slice/crio-${ID}.scope`)?.runtime, 'cri-o');
    assert.equal(matchCgroupPath(`/kubepods/besteffort/podx/crio-${ID}`)?.runtime, 'cri-o');
  });

  it('prefers the v2 line', () => {
    const other = 'a'.repeat(64);
    const m = parseProcCgroup(`4:memory:/docker/${other}\n0::/libpod_parent/libpod-${ID}\n`);
    assert.equal(m?.id, ID);
  });
});
