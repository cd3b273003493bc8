-- Report "股指期货/期权的基差与持仓": per variety and day, the main contract's basis
-- (negative = discount 贴水), annualised basis and the variety's total open interest,
-- to see whether short demand moved off 融券 into index futures.
select
    trade_date,
    variety,
    contract as main_contract,
    futures_close,
    spot_close,
    round(basis_points, 1) as basis_points,
    round(basis_ratio * 100, 2) as basis_pct,
    days_to_expiry,
    round(annualized_basis_ratio * 100, 2) as annualized_basis_pct,
    variety_open_interest,
from marts.fct_index_futures_basis
where is_main_contract
    and trade_date >= date '2024-01-01'
order by variety, trade_date;
