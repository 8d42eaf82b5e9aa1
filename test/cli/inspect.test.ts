import { describe, expect, it } from 'vitest';
import { formatInspect } from '../../src/cli/inspect.js';

describe('formatInspect', () => {
  it('prints an ipvsadm -Ln style table, sorted, with rejected services marked', () => {
    const text = formatInspect([
      { service: 'default/z', protocol: 'UDP', frontend: '198.19.1.2:53', kind: 'ClusterIP', backends: [] },
      { service: 'default/hostnames', protocol: 'TCP', frontend: '198.19.1.175:80', kind: 'ClusterIP', backends: ['198.18.1.2:9376'] },
    ]);
    expect(text.split('\n')).toEqual([
      'Prot LocalAddress:Port         Kind          Service',
      '  -> RemoteAddress:Port',
      'TCP  198.19.1.175:80            ClusterIP     default/hostnames',
      '  -> 198.18.1.2:9376',
      'UDP  198.19.1.2:53              ClusterIP     default/z',
      '  (no endpoints: rejected)',
      '',
    ]);
  });
});
