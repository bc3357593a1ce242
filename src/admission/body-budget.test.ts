import { describe, expect, it } from 'vitest';
import { BodyBudget } from './body-budget.js';

describe('BodyBudget', () => {
  it('grants what fits at once and gives it back exactly once', async () => {
    const budget = new BodyBudget(100);
    const a = await budget.acquire(60, 0);
    const b = await budget.acquire(40, 0);
    expect(a).toBeDefined();
    expect(b).toBeDefined();
    expect(budget.inUse).toBe(100);
    a?.();
    a?.();
    expect(budget.inUse).toBe(40);
    b?.();
    expect(budget.inUse).toBe(0);
  });

  it('turns a request away when nothing is released within its wait', async () => {
    const budget = new BodyBudget(100);
    const held = await budget.acquire(80, 0);
    expect(await budget.acquire(30, 20)).toBeUndefined();
    expect(budget.inUse).toBe(80);
    held?.();
  });

  it('hands released room to waiters, smaller ones past a larger one that still does not fit', async () => {
    const budget = new BodyBudget(100);
    const a = await budget.acquire(50, 0);
    const b = await budget.acquire(40, 0);
    const large = budget.acquire(100, 5_000);
    const small = budget.acquire(20, 5_000);
    b?.(); // 50 in use: the large waiter still does not fit, the small one does
    const granted = await small;
    expect(granted).toBeDefined();
    expect(budget.inUse).toBe(70);
    a?.();
    granted?.();
    const big = await large;
    expect(big).toBeDefined();
    expect(budget.inUse).toBe(100);
    big?.();
  });

  it('admits a body larger than the whole budget alone', async () => {
    const budget = new BodyBudget(100);
    const huge = await budget.acquire(1_000, 0);
    expect(budget.inUse).toBe(100);
    expect(await budget.acquire(1, 0)).toBeUndefined();
    huge?.();
  });
});
