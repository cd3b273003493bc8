-- The event study by Shenwan level-1 industry: how each industry's short balance
-- moved in the 20 trading days after the 转融券 suspension took effect (2024-07-11).
select
    industry_name,
    round(short_balance_cny / 1e8, 2) as short_balance_100m_cny_at_plus_20,
    round(short_balance_change_from_event_ratio * 100, 1) as change_from_event_day_pct,
    round(share_of_market_short_ratio_change_from_event * 100, 2)
        as share_of_market_change_pct_points,
from marts.fct_policy_event_window_by_industry
where event_id = '2024-07-10-refinancing-suspended'
    and offset_trading_days = 20
order by short_balance_change_from_event_ratio;
