impl :: bincode :: Encode for PoolSpec
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.name, encoder) ?; :: bincode ::
        Encode :: encode(&self.kind, encoder) ?; :: bincode :: Encode ::
        encode(&self.currency, encoder) ?; :: bincode :: Encode ::
        encode(&self.discount, encoder) ?; :: bincode :: Encode ::
        encode(&self.max_discount_minor, encoder) ?; :: bincode :: Encode ::
        encode(&self.min_spend_minor, encoder) ?; :: bincode :: Encode ::
        encode(&self.valid_from_ms, encoder) ?; :: bincode :: Encode ::
        encode(&self.valid_until_ms, encoder) ?; :: bincode :: Encode ::
        encode(&self.total_cap, encoder) ?; :: bincode :: Encode ::
        encode(&self.per_member_cap, encoder) ?; :: bincode :: Encode ::
        encode(&self.allowed_channels, encoder) ?; :: bincode :: Encode ::
        encode(&self.allowed_stores, encoder) ?; :: bincode :: Encode ::
        encode(&self.excluded_categories, encoder) ?; :: bincode :: Encode ::
        encode(&self.stacking_group, encoder) ?; :: bincode :: Encode ::
        encode(&self.partner_orgs, encoder) ?; :: bincode :: Encode ::
        encode(&self.transferable, encoder) ?; core :: result :: Result ::
        Ok(())
    }
}