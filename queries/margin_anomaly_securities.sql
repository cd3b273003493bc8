-- Report table "涨幅异动与融券关联个股分析": for a security and day, the price change
-- (涨跌幅), the short balance (融券几乎清零?) and whether the financing balance is at its
-- highest of the past year (融资余额创近一年新高, 250 trading days) or ever held.
with

security_days as (

    select
        trade_date,
        security_code,
        security_name,
        close_change_1d_ratio,
        short_balance_cny,
        financing_balance_cny,
        financing_balance_cny >= max(financing_balance_cny) over (
            partition by security_code order by trade_date
            rows between 249 preceding and current row
        ) as is_financing_one_year_high,
        financing_balance_cny >= max(financing_balance_cny) over (
            partition by security_code order by trade_date
        ) as is_financing_record_high,
    from marts.fct_balance_to_float
    where security_code in ('603285', '002636', '002029', '603335', '002565')

)

select
    security_name,
    security_code,
    trade_date,
    round(close_change_1d_ratio * 100, 2) as change_pct,
    round(short_balance_cny / 1e4, 1) as short_balance_10k_cny,
    round(financing_balance_cny / 1e8, 2) as financing_balance_100m_cny,
    is_financing_one_year_high,
    is_financing_record_high,
from security_days
where (security_code, trade_date) in (
    ('603285', date '2025-09-04'),
    ('002636', date '2025-11-10'),
    ('002029', date '2025-10-20'),
    ('603335', date '2025-09-26'),
    ('002565', date '2025-07-02')
)
order by trade_date;
