// scripts/derive-provider-schema.ts reads @cdktf/provider-google's generated
// JavaScript, which is not installed here (it is ~300 MB). This feeds it a
// module of the same shape as the generated ones (a resource class with
// synthesizeHclAttributes, block converters, output references with getters),
// and checks the derived entry against the committed list for the same type.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { deriveSchemas } from '../../scripts/derive-provider-schema.ts';
import { loadSchema } from './schema-checks.ts';

const attr = (name: string, value: string, isBlock = false) =>
  `        ${name}: {\n            value: ${value},\n            isBlock: ${isBlock},\n            type: "simple",\n            storageClassType: "string",\n        },`;

/** The generated module's shape for a resource with one nested block and computed attributes. */
const MODULE = `"use strict";
const cdktf = require("cdktf");
function serviceAccountTimeoutsToHclTerraform(struct) {
    const attrs = {
${attr('create', 'cdktf.stringToHclTerraform(struct.create)')}
    };
    return attrs;
}
class ServiceAccountTimeoutsOutputReference extends cdktf.ComplexObject {
    get create() {
        return this.getStringAttribute('create');
    }
}
class ServiceAccount extends cdktf.TerraformResource {
    constructor(scope, id, config) {
        this._timeouts = new ServiceAccountTimeoutsOutputReference(this, "timeouts");
    }
    get email() {
        return this.getStringAttribute('email');
    }
    get member() {
        return this.getStringAttribute('member');
    }
    get name() {
        return this.getStringAttribute('name');
    }
    get uniqueId() {
        return this.getStringAttribute('unique_id');
    }
    synthesizeAttributes() {
        return {};
    }
    synthesizeHclAttributes() {
        const attrs = {
${['account_id', 'create_ignore_already_exists', 'description', 'disabled', 'display_name', 'id', 'project'].map((n) => attr(n, `cdktf.stringToHclTerraform(this._${n})`)).join('\n')}
${attr('timeouts', 'serviceAccountTimeoutsToHclTerraform(this._timeouts.internalValue)', true)}
        };
        return attrs;
    }
}
exports.ServiceAccount = ServiceAccount;
ServiceAccount.tfResourceType = "google_service_account";
`;

describe('deriving the provider schema list', () => {
  it('reads arguments, computed attributes and nested blocks from the generated module', () => {
    const dir = mkdtempSync(join(tmpdir(), 'provider-google-'));
    mkdirSync(join(dir, 'lib', 'service-account'), { recursive: true });
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({ cdktf: { provider: { version: '6.50.0' } } }),
    );
    writeFileSync(join(dir, 'lib', 'service-account', 'index.js'), MODULE);
    const derived = deriveSchemas(dir);
    assert.equal(derived.version, '6.50.0');
    assert.deepEqual(derived.resources.google_service_account, {
      a: [
        'account_id',
        'create_ignore_already_exists',
        'description',
        'disabled',
        'display_name',
        'id',
        'project',
      ],
      c: ['email', 'member', 'name', 'unique_id'],
      b: { timeouts: { a: ['create'] } },
    });
    // The committed list was derived the same way from the real package.
    assert.deepEqual(
      derived.resources.google_service_account,
      loadSchema().resources.google_service_account,
    );
  });
});
