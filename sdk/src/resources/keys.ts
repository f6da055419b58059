/** API keys (admin): create (the secret is returned once), list, revoke; `me` for any key. */
import type { HttpCore } from '../core/http';
import type { ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyIdentity } from '../types';

export class Keys {
  constructor(private readonly http: HttpCore) {}
  create(input: ApiKeyCreate): Promise<ApiKeyCreated> { return this.http.request('POST', '/keys', { body: input }); }
  async list(): Promise<ApiKey[]> { return (await this.http.request<{ keys: ApiKey[] }>('GET', '/keys')).keys; }
  revoke(id: string): Promise<ApiKey> { return this.http.request('DELETE', `/keys/${encodeURIComponent(id)}`); }
  me(): Promise<ApiKeyIdentity> { return this.http.request('GET', '/keys/me'); }
}
