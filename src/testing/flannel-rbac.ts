/**
 * flannel-rbac: the RBAC objects of kube-flannel.yml, as data. Apart from the kube-apiserver
 * harness (`kube-cluster.ts`) so code and unit tests can read them without that harness.
 */

/** FLANNEL_RBAC is kube-flannel.yml's Namespace, ServiceAccount, ClusterRole and binding. */
export const FLANNEL_RBAC = {
  namespace: 'kube-flannel',
  serviceAccount: 'flannel',
  rules: [
    { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
    { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
  ],
} as const;
