impl :: bincode :: Encode for LedgerEvent
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.id, encoder) ?; :: bincode ::
        Encode :: encode(&self.kind, encoder) ?; :: bincode :: Encode ::
        encode(&self.log_index, encoder) ?; :: bincode :: Encode ::
        encode(&self.height, encoder) ?; :: bincode :: Encode ::
        encode(&self.time_ms, encoder) ?; :: bincode :: Encode ::
        encode(&self.tx_id, encoder) ?; :: bincode :: Encode ::
        encode(&self.tx_index, encoder) ?; :: bincode :: Encode ::
        encode(&self.signer, encoder) ?; :: bincode :: Encode ::
        encode(&self.signer_org, encoder) ?; :: bincode :: Encode ::
        encode(&self.memo, encoder) ?; :: bincode :: Encode ::
        encode(&self.org, encoder) ?; :: bincode :: Encode ::
        encode(&self.pool, encoder) ?; :: bincode :: Encode ::
        encode(&self.token, encoder) ?; :: bincode :: Encode ::
        encode(&self.member, encoder) ?; :: bincode :: Encode ::
        encode(&self.store, encoder) ?; :: bincode :: Encode ::
        encode(&self.channel, encoder) ?; :: bincode :: Encode ::
        encode(&self.amounts, encoder) ?; :: bincode :: Encode ::
        encode(&self.pool_seq, encoder) ?; :: bincode :: Encode ::
        encode(&self.token_seq, encoder) ?; :: bincode :: Encode ::
        encode(&self.detail, encoder) ?; core :: result :: Result :: Ok(())
    }
}