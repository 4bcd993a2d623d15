// The arithmetic subset of Terraform expressions that the offline checks and
// the local pipeline evaluate (scripts/terraform/arithmetic.ts), with
// Terraform's precedence and functions
// (https://developer.hashicorp.com/terraform/language/expressions/operators).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArithmeticError, evaluateNumber } from '../../scripts/terraform/arithmetic.ts';

/** Terraform's own `${…}` interpolation, as hcl2json hands expressions over. */
const tf = (expression: string) => `\${${expression}}`;
const names: Record<string, unknown> = {
  'var.share': 0.5,
  'var.quota': 60000,
  'var.copy': 10,
  'local.max': { a: 5, copy: tf('var.copy'), b: 5 },
  'local.instances': tf('sum(values(local.max))'),
};
const lookup = (name: string) => names[name];

describe('Terraform arithmetic', () => {
  it('follows precedence, parentheses and unary minus', () => {
    assert.equal(evaluateNumber('1 + 2 * 3', lookup), 7);
    assert.equal(evaluateNumber('(1 + 2) * 3', lookup), 9);
    assert.equal(evaluateNumber('10 - 4 - 3', lookup), 3);
    assert.equal(evaluateNumber('8 / 4 / 2', lookup), 1);
    assert.equal(evaluateNumber('-2 * 3', lookup), -6);
  });

  it('reads variables, locals (evaluated in turn), map keys and the functions it knows', () => {
    assert.equal(evaluateNumber('local.instances', lookup), 20);
    assert.equal(evaluateNumber('local.max.copy', lookup), 10);
    assert.equal(
      evaluateNumber(
        tf(
          'floor((var.share * var.quota - local.instances) * 1000 / (60 * local.instances)) / 1000',
        ),
        lookup,
      ),
      24.983,
    );
    assert.equal(evaluateNumber('ceil(2001 / 1000) + min(7, 100) + max(1, 2)', lookup), 12);
  });

  it('refuses what it cannot read, naming it', () => {
    assert.throws(() => evaluateNumber('var.missing + 1', lookup), /var\.missing has no value/);
    assert.throws(() => evaluateNumber('upper(1)', lookup), /unknown function upper/);
    assert.throws(() => evaluateNumber('1 + "x"', lookup), ArithmeticError);
    assert.throws(() => evaluateNumber('(1 + 2', lookup), /expected \)/);
  });
});
