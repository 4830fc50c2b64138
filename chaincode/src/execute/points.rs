//! Execution of the loyalty balance txs (issue 19): load, earn, spend, void, adjust and
//! its decision, transfer and expiry.
//!
//! Each tx opens a [`Book`] on one member's account in one org's program: it reads the
//! program and the account, expires what is due at the block time (so no tx ever sees an
//! expired lot), lets the tx move the balance through [`crate::loyalty`]'s arithmetic,
//! and on closing re-evaluates the tier and writes the account (registering the member
//! with the org the first time: [`super::members`]), the org's liability and the events.
//! A movement is recorded under the tx's id ([`Movement`]) so a void undoes it exactly
//! once; an order earns once ([`StateKey::EarnedOrder`]); amounts credited or
//! spent by a partner org's key go into the pair's [`Settlement`].
//!
//! Roles: the program's org runs it (org admins adjust and decide, admins and issuers
//! load, transfer and expire); terminals of the program's org or of a partner org earn,
//! load and spend; a void comes from the org that made the movement (a terminal of the
//! same store, or an org admin of that org).

use super::{Event, Exec, active_key, fail, require_admin};
use crate::discount::eligible_amount;
use crate::ids::{MemberId, OrgId, PublicKey, TxId};
use crate::loyalty::{
    self, Account, AdjustmentRecord, AdjustmentStatus, Allocation, Deltas, Direction, LotId,
    LoyaltyError, Movement, MovementKind, NewLot, ProgramRecord, Segment, TierChange,
};
use crate::reject::RejectReason;
use crate::state::{Overlay, StateKey, StateReader};
use crate::tx::{
    AdjustTx, DecideAdjustmentTx, EarnTx, ExpireBalancesTx, LoadTx, MAX_ADJUST_NOTE_BYTES,
    MAX_EXPIRE_MEMBERS, MAX_REFERENCE_BYTES, SpendTx, TransferBalanceTx, VoidTx,
};
use crate::types::{BlockContext, KeyRecord, Order, Role};
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// What moved a balance, as its events name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BalanceOp {
    /// Points earned on an order.
    Earned,
    /// Stored value loaded.
    Loaded,
    /// Spent.
    Spent,
    /// A spend voided: its draws credited back.
    Refunded,
    /// An earn, load or received transfer voided: its lots taken back.
    Voided,
    /// An adjustment applied.
    Adjusted,
    /// Sent to another member.
    TransferredOut,
    /// Received from another member.
    TransferredIn,
    /// Lots expired.
    Expired,
    /// Held for a withdrawal (paid out once approved and paid; back on a rejection as
    /// `Refunded`).
    Withdrawn,
}

impl BalanceOp {
    /// The operation's stable name.
    pub fn name(self) -> &'static str {
        match self {
            BalanceOp::Earned => "earned",
            BalanceOp::Loaded => "loaded",
            BalanceOp::Spent => "spent",
            BalanceOp::Refunded => "refunded",
            BalanceOp::Voided => "voided",
            BalanceOp::Adjusted => "adjusted",
            BalanceOp::TransferredOut => "transferred_out",
            BalanceOp::TransferredIn => "transferred_in",
            BalanceOp::Expired => "expired",
            BalanceOp::Withdrawn => "withdrawn",
        }
    }
}

/// A rejection for a refused loyalty operation.
pub(super) fn refused<T>(e: LoyaltyError) -> Exec<T> {
    let reason = match &e {
        LoyaltyError::Insufficient { .. } => RejectReason::InsufficientBalance,
        LoyaltyError::PerTxCap { .. } => RejectReason::PerTxCapExceeded,
        LoyaltyError::LotGone(_) | LoyaltyError::AlreadySpent { .. } => RejectReason::AlreadySpent,
        LoyaltyError::TooManyLots => RejectReason::TooManyLots,
        LoyaltyError::NotPending { .. } => RejectReason::NotPending,
        LoyaltyError::EngagementLimit { .. } => RejectReason::EngagementLimit,
        LoyaltyError::InvalidProgram(_)
        | LoyaltyError::InvalidAmount(_)
        | LoyaltyError::NoSuchSegment(_)
        | LoyaltyError::MixedUnits => RejectReason::InvalidInput,
    };
    fail(reason, e.to_string())
}

pub(super) trait OrRefused<T> {
    fn or_refused(self) -> Exec<T>;
}

impl<T> OrRefused<T> for Result<T, LoyaltyError> {
    fn or_refused(self) -> Exec<T> {
        self.or_else(refused)
    }
}

/// One member's account in one program, open for a tx: see the module docs.
pub(super) struct Book {
    pub(super) program: ProgramRecord,
    pub(super) member: MemberId,
    pub(super) account: Account,
    /// Change of every balance so far, for the liability.
    deltas: Deltas,
    pub(super) events: Vec<Event>,
}

impl Book {
    /// Opens `member`'s account in `org`'s program and expires what is due at `now_ms`.
    pub(super) fn open<S: StateReader + ?Sized>(
        view: &Overlay<'_, S>,
        org: &OrgId,
        member: MemberId,
        now_ms: u64,
    ) -> Exec<Book> {
        let program = program_of(view, org)?;
        let account = view.account((org, &member))?.unwrap_or_default();
        let mut book = Book {
            program,
            member,
            account,
            deltas: Deltas::default(),
            events: Vec::new(),
        };
        book.expire(now_ms);
        Ok(book)
    }

    /// Opens the book as [`Book::open`] does for a tx that moves value for the member,
    /// signed by a key of the program's org or a partner (else `not_authorized`): refused
    /// (`on_hold`) while the program's org holds them. The org check comes first, so no
    /// other org learns of a hold by trying.
    pub(super) fn open_free<S: StateReader + ?Sized>(
        view: &Overlay<'_, S>,
        signer: &KeyRecord,
        org: &OrgId,
        member: MemberId,
        now_ms: u64,
    ) -> Exec<Book> {
        let book = Book::open(view, org, member, now_ms)?;
        require_serving_org(&book.program, signer)?;
        super::holds::require_member_free(view, org, member)?;
        Ok(book)
    }

    /// Refuses a credit to the member that the program's org may not give: the member
    /// erased, or the program's required consent not granted ([`super::consent::admit`]).
    pub(super) fn admit_credit<S: StateReader + ?Sized>(&self, view: &Overlay<'_, S>) -> Exec<()> {
        let requires = self.program.spec.requires_consent.as_ref();
        super::consent::admit(view, &self.program.org, self.member, requires)
    }

    fn expire(&mut self, now_ms: u64) {
        let (_, deltas) = self.account.expire(&self.program.spec, now_ms);
        self.record(BalanceOp::Expired, &deltas);
    }

    /// Adds `deltas` to the book and one event per segment they change.
    pub(super) fn record(&mut self, op: BalanceOp, deltas: &Deltas) {
        for (segment, delta) in &deltas.0 {
            if *delta == 0 {
                continue;
            }
            self.events.push(Event::BalanceChanged {
                program: self.program.org.clone(),
                member: self.member,
                op,
                segment: *segment,
                credit: *delta > 0,
                amount: u64::try_from(delta.unsigned_abs()).expect("one account's balance"),
            });
        }
        self.deltas.merge(deltas);
    }

    /// Expires what the tx brought back past its date, re-evaluates the tier, writes the
    /// account and the org's liability, and returns the events.
    pub(super) fn close<S: StateReader + ?Sized>(
        mut self,
        view: &mut Overlay<'_, S>,
        now_ms: u64,
    ) -> Exec<Vec<Event>> {
        // What the tx credited back may be past its date already (a refund of an
        // expired lot): it expires now, so the liability never counts it.
        self.expire(now_ms);
        let spec = &self.program.spec;
        self.account.prune_engagements(spec, now_ms);
        if let TierChange::Moved { from, to } =
            loyalty::evaluate_tier(spec, &mut self.account, now_ms)
        {
            let name = |i: u8| spec.tiers.tiers[usize::from(i)].name.clone();
            self.events.push(Event::TierChanged {
                program: self.program.org.clone(),
                member: self.member,
                from: name(from),
                to: name(to),
            });
        }
        let org = &self.program.org;
        if self.account.is_vacant() {
            view.tx.delete(StateKey::Account(org.clone(), self.member));
        } else {
            super::members::register(view, org, self.member)?;
            view.put_account((org, &self.member), self.account);
        }
        let mut liability = view.liability(org)?.unwrap_or_default();
        liability.apply(&self.deltas).or_refused()?;
        view.put_liability(org, liability);
        Ok(self.events)
    }
}

pub(super) fn program_of<S: StateReader + ?Sized>(
    view: &Overlay<'_, S>,
    org: &OrgId,
) -> Exec<ProgramRecord> {
    match view.program(org)? {
        Some(p) => Ok(p),
        None => fail(
            RejectReason::NotFound,
            format!("{org} runs no loyalty program"),
        ),
    }
}

/// The signer belongs to the program's org, or to one of its partner orgs.
pub(super) fn require_serving_org(program: &ProgramRecord, signer: &KeyRecord) -> Exec<()> {
    if signer.org == program.org || program.spec.partner_orgs.contains(&signer.org) {
        return Ok(());
    }
    fail(
        RejectReason::NotAuthorized,
        format!(
            "{} is neither {} nor a partner of its program",
            signer.org, program.org
        ),
    )
}

/// The signer is an org admin or issuer of the program's own org.
pub(super) fn require_program_staff(program: &OrgId, signer: &KeyRecord) -> Exec<()> {
    if !matches!(signer.role, Role::OrgAdmin | Role::Issuer) {
        return fail(
            RejectReason::NotAuthorized,
            format!(
                "needs an org_admin or issuer key, signer is {}",
                signer.role.name()
            ),
        );
    }
    require_own_org(program, signer)
}

fn require_own_org(program: &OrgId, signer: &KeyRecord) -> Exec<()> {
    if &signer.org != program {
        return fail(
            RejectReason::NotAuthorized,
            format!("the program belongs to {program}, signer to {}", signer.org),
        );
    }
    Ok(())
}

/// The signer is an org admin or issuer of the program's own org, or else a terminal (of
/// a serving org: [`Book::open_free`] checks that).
pub(super) fn require_staff_or_terminal(program: &OrgId, signer: &KeyRecord) -> Exec<()> {
    let staff = matches!(signer.role, Role::OrgAdmin | Role::Issuer) && &signer.org == program;
    if staff {
        Ok(())
    } else {
        require_terminal(signer)
    }
}

pub(super) fn require_terminal(signer: &KeyRecord) -> Exec<()> {
    if !matches!(signer.role, Role::Terminal { .. }) {
        return fail(
            RejectReason::NotAuthorized,
            format!("needs a terminal key, signer is {}", signer.role.name()),
        );
    }
    Ok(())
}

/// A reference: 1 to [`MAX_REFERENCE_BYTES`] printable ASCII without spaces.
pub(super) fn check_reference(what: &str, text: &str) -> Exec<()> {
    let ok = !text.is_empty()
        && text.len() <= MAX_REFERENCE_BYTES
        && text.bytes().all(|b| b.is_ascii_graphic());
    if !ok {
        return fail(
            RejectReason::InvalidInput,
            format!("{what} must be 1 to {MAX_REFERENCE_BYTES} printable ASCII characters"),
        );
    }
    Ok(())
}

pub(super) fn check_positive(amount: u64) -> Exec<()> {
    if amount == 0 {
        return fail(RejectReason::InvalidInput, "the amount must be positive");
    }
    Ok(())
}

/// Adds signed amounts to what the signer's org owes or is owed in the program, when the
/// signer is a partner (the program's own org settles with nobody).
pub(super) fn settle<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    program: &OrgId,
    by_org: &OrgId,
    credited: &Deltas,
    spent: &Deltas,
) -> Exec<()> {
    if by_org == program {
        return Ok(());
    }
    let mut s = view.settlement((program, by_org))?.unwrap_or_default();
    s.credit(credited).or_refused()?;
    s.spend(spent).or_refused()?;
    if s.is_empty() {
        view.tx
            .delete(StateKey::Settlement(program.clone(), by_org.clone()));
    } else {
        view.put_settlement((program, by_org), s);
    }
    Ok(())
}

pub(super) fn store_of(signer: &KeyRecord) -> Option<crate::ids::StoreId> {
    match &signer.role {
        Role::Terminal { store, .. } => Some(store.clone()),
        _ => None,
    }
}

pub(super) fn movement(book: &Book, signer: &KeyRecord, kind: MovementKind) -> Movement {
    Movement {
        program: book.program.org.clone(),
        member: book.member,
        by_org: signer.org.clone(),
        store: store_of(signer),
        kind,
        voided: false,
    }
}

pub(super) fn load<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    signer: &KeyRecord,
    id: TxId,
    tx: &LoadTx,
) -> Exec<Vec<Event>> {
    let now = ctx.time_ms;
    let mut book = Book::open_free(view, signer, &tx.program, tx.member, now)?;
    require_staff_or_terminal(&tx.program, signer)?;
    book.admit_credit(view)?;
    if tx.segment == Segment::Mileage {
        return fail(
            RejectReason::InvalidInput,
            "points are earned or adjusted, not loaded",
        );
    }
    check_positive(tx.amount)?;
    check_reference("reference", &tx.reference)?;
    let lot = LotId {
        source: id,
        index: 0,
    };
    let new = NewLot {
        id: lot,
        segment: tx.segment,
        amount: tx.amount,
        pending_ms: 0,
        credited_by: signer.org.clone(),
    };
    let deltas = book
        .account
        .credit(&book.program.spec, new, now)
        .or_refused()?;
    book.record(BalanceOp::Loaded, &deltas);
    let kind = MovementKind::Load {
        lot,
        segment: tx.segment,
        amount: tx.amount,
    };
    view.put_movement(&id, movement(&book, signer, kind));
    settle(view, &tx.program, &signer.org, &deltas, &Deltas::default())?;
    book.close(view, now)
}

/// Opens `member`'s book for an order a terminal brings (an earn or a checkout): the
/// signer is a terminal of the program's org or a partner, the order reference is
/// well-formed and unused, the order is in the program's currency.
pub(super) fn open_order<S: StateReader + ?Sized>(
    view: &Overlay<'_, S>,
    now: u64,
    signer: &KeyRecord,
    (program, member): (&OrgId, MemberId),
    order_ref: &str,
    order: &Order,
) -> Exec<Book> {
    require_terminal(signer)?;
    let book = Book::open_free(view, signer, program, member, now)?;
    check_reference("order_ref", order_ref)?;
    check_order_unused(view, signer, order_ref)?;
    let currency = book.program.spec.currency;
    if order.currency != currency {
        return fail(
            RejectReason::CurrencyMismatch,
            format!(
                "the order is in {}, the program in {currency}",
                order.currency
            ),
        );
    }
    Ok(book)
}

/// Credits `points` earned on an order at `now` by tx `id` as lot `(id, 0)`, pending as
/// the program says for orders ([`credit_points`]). Returns the lot's id.
pub(super) fn credit_earned<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    book: &mut Book,
    signer: &KeyRecord,
    id: TxId,
    points: u64,
    now: u64,
) -> Exec<LotId> {
    let lot = LotId {
        source: id,
        index: 0,
    };
    let pending_ms = book.program.spec.earn.order_pending_ms();
    credit_points(view, book, signer, (lot, points, pending_ms), now)?;
    Ok(lot)
}

/// Credits `points` earned at `now` as lot `lot`, spendable after `pending_ms`: the lot,
/// the earn log, the event and, for a partner's key, the pair's settlement. What an earn,
/// a checkout and an engagement share.
pub(super) fn credit_points<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    book: &mut Book,
    signer: &KeyRecord,
    (lot, points, pending_ms): (LotId, u64, u64),
    now: u64,
) -> Exec<()> {
    let spec = book.program.spec.clone();
    let new = NewLot {
        id: lot,
        segment: Segment::Mileage,
        amount: points,
        pending_ms,
        credited_by: signer.org.clone(),
    };
    let deltas = book.account.credit(&spec, new, now).or_refused()?;
    book.account.log_earned(&spec, points, now);
    book.record(BalanceOp::Earned, &deltas);
    let program = book.program.org.clone();
    settle(view, &program, &signer.org, &deltas, &Deltas::default())
}

pub(super) fn earn<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    signer: &KeyRecord,
    id: TxId,
    tx: &EarnTx,
) -> Exec<Vec<Event>> {
    let now = ctx.time_ms;
    let member = (&tx.program, tx.member);
    let mut book = open_order(view, now, signer, member, &tx.order_ref, &tx.order)?;
    book.admit_credit(view)?;
    let spec = &book.program.spec;
    let eligible = eligible_amount(&tx.order, &spec.earn.excluded_categories)?;
    let quote = loyalty::quote_earn(spec, &book.account, eligible, now).or_refused()?;
    if quote.award == 0 {
        return fail(
            RejectReason::QuantityExceeded,
            format!(
                "the order earns nothing: {} points before caps, none left under them",
                quote.before_caps
            ),
        );
    }
    let lot = credit_earned(view, &mut book, signer, id, quote.award, now)?;
    let kind = MovementKind::Earn {
        lot,
        points: quote.award,
        order_ref: tx.order_ref.clone(),
    };
    view.put_movement(&id, movement(&book, signer, kind));
    view.put_earned_order((&signer.org, &tx.order_ref), id);
    book.close(view, now)
}

pub(super) fn spend<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    signer: &KeyRecord,
    id: TxId,
    tx: &SpendTx,
) -> Exec<Vec<Event>> {
    let now = ctx.time_ms;
    require_terminal(signer)?;
    let mut book = Book::open_free(view, signer, &tx.program, tx.member, now)?;
    check_reference("order_ref", &tx.order_ref)?;
    check_segments(&tx.segments)?;
    let (allocation, deltas) = book
        .account
        .spend(&book.program.spec, &tx.segments, tx.amount, now)
        .or_refused()?;
    book.record(BalanceOp::Spent, &deltas);
    view.put_movement(
        &id,
        movement(&book, signer, MovementKind::Spend { allocation }),
    );
    settle(
        view,
        &tx.program,
        &signer.org,
        &Deltas::default(),
        &negated(&deltas),
    )?;
    book.close(view, now)
}

/// 1 to 4 segments, sorted, no duplicates.
/// An order (the signer's org and its reference) earns or checks out once.
pub(super) fn check_order_unused<S: StateReader + ?Sized>(
    view: &Overlay<'_, S>,
    signer: &KeyRecord,
    order_ref: &str,
) -> Exec<()> {
    if let Some(earlier) = view.earned_order((&signer.org, order_ref))? {
        return fail(
            RejectReason::AlreadyEarned,
            format!("order {order_ref} earned or checked out already in tx {earlier}"),
        );
    }
    Ok(())
}

pub(super) fn check_segments(segments: &[Segment]) -> Exec<()> {
    let sorted = segments.windows(2).all(|w| w[0] < w[1]);
    if segments.is_empty() || segments.len() > loyalty::MAX_SEGMENTS || !sorted {
        return fail(
            RejectReason::InvalidInput,
            "segments: 1 to 4, sorted, no duplicates",
        );
    }
    Ok(())
}

pub(super) fn negated(deltas: &Deltas) -> Deltas {
    Deltas(deltas.0.iter().map(|(s, d)| (*s, -d)).collect())
}

pub(super) fn void<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    signer: &KeyRecord,
    tx: &VoidTx,
) -> Exec<Vec<Event>> {
    let now = ctx.time_ms;
    let Some(mut moved) = view.movement(&tx.tx)? else {
        return fail(
            RejectReason::NotFound,
            format!("tx {} moved no balance", tx.tx),
        );
    };
    check_voider(&moved, signer)?;
    if moved.voided {
        return fail(
            RejectReason::AlreadyVoided,
            format!("tx {} was voided already", tx.tx),
        );
    }
    let mut book = Book::open(view, &moved.program, moved.member, now)?;
    let (credited, spent) = match &moved.kind {
        MovementKind::Earn { lot, points, .. } => {
            let (lots, deltas) = book.account.take_back(&[*lot]).or_refused()?;
            book.account.unlog_earned(*points, lots[0].earned_ms);
            book.record(BalanceOp::Voided, &deltas);
            (deltas, Deltas::default())
        }
        MovementKind::Load { lot, .. } => {
            let (_, deltas) = book.account.take_back(&[*lot]).or_refused()?;
            book.record(BalanceOp::Voided, &deltas);
            (deltas, Deltas::default())
        }
        MovementKind::Spend { allocation } => {
            let deltas = book.account.refund(allocation).or_refused()?;
            book.record(BalanceOp::Refunded, &deltas);
            (Deltas::default(), negated(&deltas))
        }
        MovementKind::Transfer {
            to,
            allocation,
            lots,
        } => {
            void_transfer(view, now, &mut book, *to, allocation, lots)?;
            (Deltas::default(), Deltas::default())
        }
        MovementKind::Checkout {
            redemptions,
            allocation,
            earned,
            ..
        } => super::checkout::undo(
            view,
            ctx,
            &mut book,
            tx.tx,
            redemptions,
            allocation,
            *earned,
        )?,
        MovementKind::Engagement {
            action,
            lot,
            points,
            referred,
            ..
        } => {
            let taken =
                super::engagement::undo(view, (&mut book, now), action, (*lot, *points), referred)?;
            (taken, Deltas::default())
        }
    };
    settle(view, &moved.program, &moved.by_org, &credited, &spent)?;
    moved.voided = true;
    view.put_movement(&tx.tx, moved);
    book.close(view, now)
}

/// Who may void a movement: an org admin of the org that made it, or a terminal of that
/// org at the same store.
pub(super) fn check_voider(moved: &Movement, signer: &KeyRecord) -> Exec<()> {
    if signer.org != moved.by_org {
        return fail(
            RejectReason::NotAuthorized,
            format!(
                "the movement was made by {}, signer is of {}",
                moved.by_org, signer.org
            ),
        );
    }
    match (&signer.role, &moved.store) {
        (Role::OrgAdmin, _) => Ok(()),
        (Role::Terminal { store, .. }, Some(at)) if store == at => Ok(()),
        (Role::Terminal { store, .. }, _) => fail(
            RejectReason::NotAuthorized,
            format!("a terminal voids only what its store ({store}) did; ask an org admin"),
        ),
        (role, _) => fail(
            RejectReason::NotAuthorized,
            format!(
                "needs an org_admin or terminal key, signer is {}",
                role.name()
            ),
        ),
    }
}

/// Takes the receiver's lots back (whole, unspent) and credits the giver's draws back.
fn void_transfer<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    now: u64,
    giver: &mut Book,
    to: MemberId,
    allocation: &Allocation,
    lots: &[LotId],
) -> Exec<()> {
    let mut receiver = Book::open(view, &giver.program.org, to, now)?;
    let (_, taken) = receiver.account.take_back(lots).or_refused()?;
    receiver.record(BalanceOp::Voided, &taken);
    let deltas = giver.account.refund(allocation).or_refused()?;
    giver.record(BalanceOp::Refunded, &deltas);
    let events = receiver.close(view, now)?;
    giver.events.extend(events);
    Ok(())
}

pub(super) fn adjust<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    (signer, key): (&KeyRecord, PublicKey),
    id: TxId,
    tx: &AdjustTx,
) -> Exec<Vec<Event>> {
    require_admin(signer)?;
    require_own_org(&tx.program, signer)?;
    let program = program_of(view, &tx.program)?;
    check_positive(tx.amount)?;
    if tx.note.is_empty()
        || tx.note.len() > MAX_ADJUST_NOTE_BYTES
        || tx.note.chars().any(char::is_control)
    {
        return fail(
            RejectReason::InvalidInput,
            format!(
                "the note must be 1 to {MAX_ADJUST_NOTE_BYTES} bytes without control characters"
            ),
        );
    }
    program.spec.segment(tx.segment).or_refused()?;
    let mut record = AdjustmentRecord {
        program: tx.program.clone(),
        member: tx.member,
        segment: tx.segment,
        direction: tx.direction,
        amount: tx.amount,
        reason: tx.reason,
        note: tx.note.clone(),
        maker: key,
        requested_ms: ctx.time_ms,
        status: AdjustmentStatus::Pending,
        checker: None,
    };
    if tx.amount > program.spec.adjust_approval_above {
        view.put_adjustment(&id, record);
        return Ok(vec![Event::AdjustmentRequested {
            adjustment: id,
            program: tx.program.clone(),
            member: tx.member,
        }]);
    }
    let events = apply_adjustment(view, ctx, id, &record)?;
    record.status = AdjustmentStatus::Applied;
    view.put_adjustment(&id, record);
    Ok(events)
}

/// Moves the balance as `record` says; its lot (a credit) is `(id, 0)`.
fn apply_adjustment<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    id: TxId,
    record: &AdjustmentRecord,
) -> Exec<Vec<Event>> {
    let now = ctx.time_ms;
    let mut book = Book::open(view, &record.program, record.member, now)?;
    let spec = &book.program.spec;
    let deltas = match record.direction {
        Direction::Credit => {
            let new = NewLot {
                id: LotId {
                    source: id,
                    index: 0,
                },
                segment: record.segment,
                amount: record.amount,
                pending_ms: 0,
                credited_by: record.program.clone(),
            };
            book.account.credit(spec, new, now).or_refused()?
        }
        Direction::Debit => {
            let (_, deltas) = book
                .account
                .debit(spec, record.segment, record.amount, now)
                .or_refused()?;
            deltas
        }
    };
    book.record(BalanceOp::Adjusted, &deltas);
    book.close(view, now)
}

pub(super) fn decide_adjustment<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    (signer, key): (&KeyRecord, PublicKey),
    tx: &DecideAdjustmentTx,
) -> Exec<Vec<Event>> {
    require_admin(signer)?;
    let Some(mut record) = view.adjustment(&tx.adjustment)? else {
        return fail(
            RejectReason::NotFound,
            format!("no adjustment {}", tx.adjustment),
        );
    };
    require_own_org(&record.program, signer)?;
    if record.status != AdjustmentStatus::Pending {
        return fail(
            RejectReason::InvalidTransition,
            format!("adjustment {} is not pending", tx.adjustment),
        );
    }
    if record.maker == key {
        return fail(
            RejectReason::SelfApproval,
            "the admin who asked for an adjustment cannot decide it",
        );
    }
    maker_still_counts(view, &record.maker)?;
    let events = if tx.approve {
        record.status = AdjustmentStatus::Applied;
        apply_adjustment(view, ctx, tx.adjustment, &record)?
    } else {
        record.status = AdjustmentStatus::Rejected;
        vec![Event::AdjustmentRejected {
            adjustment: tx.adjustment,
            program: record.program.clone(),
            member: record.member,
        }]
    };
    record.checker = Some(key);
    view.put_adjustment(&tx.adjustment, record);
    Ok(events)
}

/// Maker-checker needs two people: an approval counts only while the maker's key is
/// still active (a revoked maker's request is rejected, not approved).
fn maker_still_counts<S: StateReader + ?Sized>(
    view: &Overlay<'_, S>,
    maker: &PublicKey,
) -> Exec<()> {
    active_key(view, maker).map(|_| ())
}

pub(super) fn transfer<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    signer: &KeyRecord,
    id: TxId,
    tx: &TransferBalanceTx,
) -> Exec<Vec<Event>> {
    let now = ctx.time_ms;
    require_program_staff(&tx.program, signer)?;
    let mut giver = Book::open_free(view, signer, &tx.program, tx.from, now)?;
    if !giver.program.spec.transfers {
        return fail(
            RejectReason::NotTransferable,
            format!("{}'s program does not allow transfers", tx.program),
        );
    }
    if tx.from == tx.to {
        return fail(RejectReason::InvalidInput, "a transfer needs two members");
    }
    let spec = giver.program.spec.clone();
    let (allocation, out) = giver
        .account
        .spend(&spec, &[tx.segment], tx.amount, now)
        .or_refused()?;
    giver.record(BalanceOp::TransferredOut, &out);
    let mut receiver = Book::open_free(view, signer, &tx.program, tx.to, now)?;
    receiver.admit_credit(view)?;
    let (lots, received) = receiver
        .account
        .receive(&allocation, id, now)
        .or_refused()?;
    receiver.record(BalanceOp::TransferredIn, &received);
    let kind = MovementKind::Transfer {
        to: tx.to,
        allocation,
        lots,
    };
    view.put_movement(&id, movement(&giver, signer, kind));
    let mut events = giver.close(view, now)?;
    events.extend(receiver.close(view, now)?);
    Ok(events)
}

pub(super) fn expire<S: StateReader + ?Sized>(
    view: &mut Overlay<'_, S>,
    ctx: &BlockContext,
    signer: &KeyRecord,
    tx: &ExpireBalancesTx,
) -> Exec<Vec<Event>> {
    require_program_staff(&tx.program, signer)?;
    let sorted = tx.members.windows(2).all(|w| w[0] < w[1]);
    if tx.members.is_empty() || tx.members.len() > MAX_EXPIRE_MEMBERS || !sorted {
        return fail(
            RejectReason::InvalidInput,
            format!("members: 1 to {MAX_EXPIRE_MEMBERS}, sorted, no duplicates"),
        );
    }
    let mut events = Vec::new();
    for member in &tx.members {
        // Opening expires; closing writes it.
        let book = Book::open(view, &tx.program, *member, ctx.time_ms)?;
        events.extend(book.close(view, ctx.time_ms)?);
    }
    Ok(events)
}
