impl :: bincode :: Encode for PoolRecord
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.id, encoder) ?; :: bincode ::
        Encode :: encode(&self.owner, encoder) ?; :: bincode :: Encode ::
        encode(&self.spec, encoder) ?; :: bincode :: Encode ::
        encode(&self.status, encoder) ?; :: bincode :: Encode ::
        encode(&self.created_at, encoder) ?; :: bincode :: Encode ::
        encode(&self.issued, encoder) ?; :: bincode :: Encode ::
        encode(&self.allocated, encoder) ?; :: bincode :: Encode ::
        encode(&self.redeemed, encoder) ?; :: bincode :: Encode ::
        encode(&self.next_free, encoder) ?; :: bincode :: Encode ::
        encode(&self.shared_code, encoder) ?; core :: result :: Result ::
        Ok(())
    }
}