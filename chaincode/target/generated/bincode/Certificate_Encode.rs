impl :: bincode :: Encode for Certificate
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.chain_id, encoder) ?; :: bincode
        :: Encode :: encode(&self.height, encoder) ?; :: bincode :: Encode ::
        encode(&self.block_hash, encoder) ?; :: bincode :: Encode ::
        encode(&self.signatures, encoder) ?; core :: result :: Result ::
        Ok(())
    }
}