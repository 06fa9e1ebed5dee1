//! Word lists the generated project draws its names from, so that modules
//! read like a real application's (`Billing.Rules.TaxCalculator`) rather than
//! `Mod123`.

/// Business domains: one pipeline chain (layer) each.
pub(crate) const DOMAINS: &[&str] = &[
    "accounts",
    "analytics",
    "billing",
    "catalog",
    "checkout",
    "compliance",
    "fulfillment",
    "inventory",
    "loyalty",
    "notifications",
    "payments",
    "pricing",
    "reporting",
    "search",
    "shipping",
    "support",
];

/// Sub-directories of a domain.
pub(crate) const CONTEXTS: &[&str] = &[
    "adapters",
    "calculators",
    "exporters",
    "filters",
    "formatters",
    "handlers",
    "importers",
    "planners",
    "policies",
    "projections",
    "routing",
    "rules",
    "scoring",
    "transforms",
    "validators",
    "workflows",
];

/// First half of a pipeline module's name.
pub(crate) const QUALIFIERS: &[&str] = &[
    "Address",
    "Audit",
    "Balance",
    "Batch",
    "Bundle",
    "Carrier",
    "Channel",
    "Cohort",
    "Coupon",
    "Credit",
    "Currency",
    "Cutoff",
    "Daily",
    "Digest",
    "Discount",
    "Facet",
    "Fraud",
    "Funnel",
    "Index",
    "Invoice",
    "Ledger",
    "Locale",
    "Margin",
    "Metric",
    "Parcel",
    "Priority",
    "Query",
    "Quota",
    "Ranking",
    "Rate",
    "Refund",
    "Regional",
    "Reserve",
    "Retry",
    "Reward",
    "Rounding",
    "Schedule",
    "Session",
    "Stock",
    "Supplier",
    "Tax",
    "Template",
    "Threshold",
    "Tier",
    "Token",
    "Vendor",
    "Warehouse",
    "Window",
];

/// Second half of a pipeline module's name.
pub(crate) const ROLES: &[&str] = &[
    "Aggregator",
    "Allocator",
    "Builder",
    "Calculator",
    "Checker",
    "Classifier",
    "Enricher",
    "Estimator",
    "Filter",
    "Formatter",
    "Mapper",
    "Matcher",
    "Normalizer",
    "Planner",
    "Policy",
    "Projector",
    "Reconciler",
    "Resolver",
    "Rule",
    "Scorer",
    "Selector",
    "Splitter",
    "Transformer",
    "Validator",
];

/// Struct (schema) names. None ends in a role, so none can clash with a
/// pipeline module's last alias segment.
pub(crate) const NOUNS: &[&str] = &[
    "Account",
    "Adjustment",
    "Allowance",
    "Attachment",
    "Booking",
    "Campaign",
    "Cart",
    "Category",
    "Charge",
    "Claim",
    "Contract",
    "Customer",
    "Delivery",
    "Deposit",
    "Dispute",
    "Document",
    "Entitlement",
    "Estimate",
    "Event",
    "Expense",
    "Invoice",
    "Item",
    "Journal",
    "Lead",
    "LineItem",
    "Listing",
    "Member",
    "Membership",
    "Message",
    "Order",
    "Package",
    "Payment",
    "Payout",
    "Permit",
    "Plan",
    "Position",
    "Price",
    "Product",
    "Profile",
    "Promotion",
    "Purchase",
    "Quote",
    "Receipt",
    "Reservation",
    "Return",
    "Review",
    "Route",
    "Settlement",
    "Shipment",
    "Sku",
    "Statement",
    "Store",
    "Subscription",
    "Survey",
    "Team",
    "Ticket",
    "Transfer",
    "Trip",
    "Usage",
    "User",
    "Visit",
    "Voucher",
    "Wallet",
    "Wishlist",
];

/// Groups of services, each under its own supervisor.
pub(crate) const SERVICE_GROUPS: &[&str] = &["Core", "Storage", "Messaging", "Telemetry", "Scheduling", "Sessions"];

/// GenServer names (unique within a service group).
pub(crate) const SERVICES: &[&str] = &[
    "AuditTrail",
    "Cache",
    "CircuitBreaker",
    "ConfigStore",
    "EventBuffer",
    "FeatureFlags",
    "HealthMonitor",
    "HitCounter",
    "IdAllocator",
    "JobQueue",
    "LeaseKeeper",
    "LockTable",
    "MetricsSink",
    "Presence",
    "QuotaTracker",
    "RateLimiter",
    "RecentErrors",
    "SessionStore",
    "StatsWindow",
    "Throttle",
    "TokenBucket",
    "Tracker",
    "UsageMeter",
    "Watchdog",
];

/// `CamelCase` to `snake_case`, as Mix names files (`LineItem` ->
/// `line_item`).
pub(crate) fn underscore(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, ch) in camel.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

/// `snake_case` to `CamelCase` (`bench_app` -> `BenchApp`), as Elixir's
/// `Macro.camelize/1` does for the names we accept.
pub(crate) fn camelize(snake: &str) -> String {
    snake
        .split('_')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_conversions_round_trip() {
        assert_eq!(underscore("LineItem"), "line_item");
        assert_eq!(underscore("Cache"), "cache");
        assert_eq!(camelize("bench_app"), "BenchApp");
        assert_eq!(camelize("shop2_api"), "Shop2Api");
    }

    #[test]
    fn nouns_never_look_like_pipeline_names() {
        for noun in NOUNS {
            assert!(!ROLES.iter().any(|role| noun.ends_with(role)), "{noun}");
        }
    }
}
