impl :: bincode :: Encode for RedemptionRecord
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.pool, encoder) ?; :: bincode ::
        Encode :: encode(&self.token, encoder) ?; :: bincode :: Encode ::
        encode(&self.member, encoder) ?; :: bincode :: Encode ::
        encode(&self.redeemer_org, encoder) ?; :: bincode :: Encode ::
        encode(&self.store, encoder) ?; :: bincode :: Encode ::
        encode(&self.channel, encoder) ?; :: bincode :: Encode ::
        encode(&self.eligible_minor, encoder) ?; :: bincode :: Encode ::
        encode(&self.discount_minor, encoder) ?; :: bincode :: Encode ::
        encode(&self.height, encoder) ?; :: bincode :: Encode ::
        encode(&self.time_ms, encoder) ?; :: bincode :: Encode ::
        encode(&self.rolled_back_at, encoder) ?; core :: result :: Result ::
        Ok(())
    }
}