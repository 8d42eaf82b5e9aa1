// --config: a kube-proxy KubeProxyConfiguration becomes flag values; strict like kube-proxy.
import { describe, expect, it } from 'vitest';
import { decode, readKubeProxyConfig } from '../../src/cli/kube-proxy-config.js';

const base = { apiVersion: 'kubeproxy.config.k8s.io/v1alpha1', kind: 'KubeProxyConfiguration' };

describe('KubeProxyConfiguration', () => {
  it("maps kube-proxy's fields to bpfproxy's flags, taking the sync periods from the mode's section", () => {
    const c = decode({
      ...base,
      mode: 'ipvs',
      clientConnection: { kubeconfig: '/var/lib/kube-proxy/kubeconfig.conf', qps: 5 },
      hostnameOverride: 'node-a',
      clusterCIDR: '198.18.0.0/16',
      nodePortAddresses: ['198.19.200.0/24'],
      healthzBindAddress: '0.0.0.0:10256',
      metricsBindAddress: '127.0.0.1:10249',
      iptables: { masqueradeAll: true, localhostNodePorts: false, syncPeriod: '10s' },
      ipvs: { scheduler: 'wrr', syncPeriod: '45s', minSyncPeriod: '2s' },
      conntrack: { maxPerCore: 32768 },
    });
    expect(c.flags).toEqual({
      backend: 'ipvs',
      kubeconfig: '/var/lib/kube-proxy/kubeconfig.conf',
      'hostname-override': 'node-a',
      'cluster-cidr': '198.18.0.0/16',
      'nodeport-addresses': '198.19.200.0/24',
      'healthz-bind-address': '0.0.0.0:10256',
      'metrics-bind-address': '127.0.0.1:10249',
      'masquerade-all': true,
      'iptables-localhost-nodeports': 'false',
      'sync-period': '45s',
      'min-sync-period': '2s',
      'ipvs-scheduler': 'wrr',
    });
    expect(c.fields['sync-period']).toBe('ipvs.syncPeriod');
    // Known to kube-proxy, unused here: reported, not an error.
    expect(c.ignored).toEqual(['clientConnection.qps', 'iptables.syncPeriod', 'conntrack']);
  });

  it('is strict: an unknown field, a wrong apiVersion or kind, or a mode we lack is an error naming it', () => {
    expect(() => decode({ ...base, syncPeriodd: '1s' })).toThrow(/^syncPeriodd: unknown field/);
    expect(() => decode({ ...base, ipvs: { schedular: 'rr' } })).toThrow(/^ipvs\.schedular: unknown field/);
    expect(() => decode({ ...base, apiVersion: 'kubeproxy.config.k8s.io/v1beta1' })).toThrow(/^apiVersion: want kubeproxy\.config\.k8s\.io\/v1alpha1/);
    expect(() => decode({ ...base, kind: 'KubeletConfiguration' })).toThrow(/^kind: want KubeProxyConfiguration/);
    expect(() => decode({ ...base, mode: 'nftables' })).toThrow(/^mode: want one of "", iptables, ipvs, ebpf, got "nftables"/);
    expect(() => decode({ ...base, iptables: { masqueradeAll: 'yes' } })).toThrow(/^iptables\.masqueradeAll: want true or false/);
    expect(() => decode({ ...base, iptables: { localhostNodePorts: 'no' } })).toThrow(/^iptables\.localhostNodePorts: want true or false/);
    expect(() => decode({ ...base, nodePortAddresses: '198.19.200.0/24' })).toThrow(/^nodePortAddresses: want a list/);
  });

  it('names the file in its errors, YAML included', () => {
    expect(() => readKubeProxyConfig('/etc/kp.yaml', 'apiVersion: [')).toThrow(/^--config \/etc\/kp\.yaml: /);
  });
});
