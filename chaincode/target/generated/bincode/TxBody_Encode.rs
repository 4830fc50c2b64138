impl :: bincode :: Encode for TxBody
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.chain_id, encoder) ?; :: bincode
        :: Encode :: encode(&self.nonce, encoder) ?; :: bincode :: Encode ::
        encode(&self.valid_until_ms, encoder) ?; :: bincode :: Encode ::
        encode(&self.kind, encoder) ?; :: bincode :: Encode ::
        encode(&self.memo, encoder) ?; core :: result :: Result :: Ok(())
    }
}