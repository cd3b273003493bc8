-- Report table "涨幅异动与融券关联个股分析": the securities with a margin signal in the
-- latest 20 trading days of the signal mart (a monitor of recent anomalies, as the
-- report's table is), those that closed at the daily limit (涨停) first, as in the
-- report's table, then the rest, latest days first, with the day's price change (涨跌幅).
-- Signals: 融券几乎清零 (short_cleared), 空头回补 at the limit (short_squeeze),
-- 融券通道关闭 (short_removed), 融资余额创近一年 / 历史新高 (financing_one_year_high,
-- financing_record_high), and the common threshold alerts (典型阈值预警). Thresholds and their sources:
-- reference.signal_thresholds. Widen `recent_days` to look further back.
with

recent_days as (

    select distinct trade_date from marts.fct_margin_signal
    order by trade_date desc
    limit 20

),

signals as (

    select * from marts.fct_margin_signal
    where trade_date >= (select min(trade_date) from recent_days)

),

balances as (

    select trade_date, security_code, short_balance_cny, financing_balance_cny,
    from marts.fct_balance_to_float
    where trade_date >= (select min(trade_date) from recent_days)

),

final as (

    select
        signals.security_name,
        signals.security_code,
        signals.trade_date,
        round(signals.close_change_1d_ratio * 100, 2) as change_pct,
        signals.is_limit_up,
        string_agg(signals.signal_type, ', ' order by signals.signal_type) as signals,
        -- the report's event-driven cases before the (many) financing highs
        min(case signals.signal_type
            when 'short_squeeze' then 1 when 'short_removed' then 2 when 'short_cleared' then 3
            when 'financing_to_float_high' then 4 when 'short_growth_weekly' then 5
            else 6 end) as priority,
        round(any_value(balances.short_balance_cny) / 1e4, 1) as short_balance_10k_cny,
        round(any_value(balances.financing_balance_cny) / 1e8, 2) as financing_balance_100m_cny,
    from signals
    left join balances using (trade_date, security_code)
    group by all

)

select * exclude (priority) from final
order by is_limit_up desc, priority, trade_date desc, security_code
limit 50;
